"""Input masks for ``track`` and ``convert``: label PNGs, per-object and per-frame mask folders.

Mask conventions (documented in the README):

* a palette PNG (mode P): pixel value = object id, 0 background, 255 void (ignored);
* a grey PNG (mode L): values 0/255 only -> one object with id 1 (DAVIS 2016 style),
  otherwise value = object id with 0 background and 255 void;
* an RGB PNG whose colours are all in the DAVIS palette -> the palette indices;
* a folder of one binary PNG per object: any non-zero pixel belongs to the object; id =
  file stem if all stems are numbers, else 1..N in sorted order;
* a folder of PNGs named like the frames (same stem): each gives the objects present on
  that frame; ids already known from an earlier mask are ignored there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..errors import UserError
from .frame_source import check_file, list_images
from .palette import PALETTE

logger = logging.getLogger(__name__)

MASK_EXTS = (".png", ".bmp", ".tif", ".tiff")
VOID = 255
MAX_OBJECT_ID = 254


def read_label_png(path: Path) -> np.ndarray:
    """Read a mask image as an HxW uint8 array of object ids (see the module doc)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    check_file(path, "mask file")
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode == "P":
                return np.array(image, dtype=np.uint8)
            if mode == "1":
                return np.array(image, dtype=np.uint8)
            if mode in ("L", "LA"):
                arr = np.array(image.convert("L"), dtype=np.uint8)
                if set(np.unique(arr).tolist()) <= {0, 255}:
                    return (arr > 0).astype(np.uint8)
                return arr
            if mode in ("I", "I;16", "I;16B", "I;16L"):
                arr = np.array(image)
                if arr.max(initial=0) > 255:
                    raise UserError(f"mask {path} has values above 255; object ids must be 1..{MAX_OBJECT_ID}")
                return arr.astype(np.uint8)
            rgb = np.array(image.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise UserError(f"cannot read mask {path} (not an image)") from None
    except OSError as exc:
        raise UserError(f"cannot read mask {path}: {exc}") from None
    # RGB: map DAVIS palette colours back to indices
    flat = rgb.reshape(-1, 3)
    colours, inverse = np.unique(flat, axis=0, return_inverse=True)
    codes = {tuple(c): i for i, c in enumerate(PALETTE.tolist())}
    lut = np.zeros(len(colours), dtype=np.uint8)
    for k, colour in enumerate(colours.tolist()):
        if tuple(colour) not in codes:
            raise UserError(
                f"mask {path} is an RGB image with colour {tuple(colour)} outside the DAVIS palette; "
                f"save masks as palette (P) or grey PNGs whose values are object ids"
            )
        lut[k] = codes[tuple(colour)]
    return lut[inverse.reshape(-1)].reshape(rgb.shape[:2])


def labels_to_objects(labels: np.ndarray) -> Dict[int, np.ndarray]:
    ids = [int(v) for v in np.unique(labels) if v not in (0, VOID)]
    return {i: labels == i for i in ids}


def fit_mask(mask: np.ndarray, shape: Tuple[int, int], what: str) -> np.ndarray:
    """Nearest-neighbour resize of a mask to (H, W) with a warning when sizes differ."""
    if mask.shape[:2] == tuple(shape[:2]):
        return mask
    import cv2

    height, width = mask.shape[:2]
    if _aspect_differs((height, width), shape):
        logger.warning("%s is %dx%d (%s) but the frame is %dx%d (%s): the aspect ratios differ, so the mask is "
                       "stretched; is it the mask of another video, or rotated?", what, width, height,
                       _orientation(height, width), shape[1], shape[0], _orientation(shape[0], shape[1]))
    else:
        logger.warning("%s is %dx%d but the frame is %dx%d: resizing the mask (nearest neighbour)",
                       what, width, height, shape[1], shape[0])
    resized = cv2.resize(mask.astype(np.uint8), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_NEAREST)
    return resized.astype(mask.dtype)


def _orientation(height: int, width: int) -> str:
    return "portrait" if height > width else "landscape" if width > height else "square"


def _aspect_differs(mask_shape, frame_shape, tolerance: float = 0.02) -> bool:
    """True when width/height differ by more than ``tolerance`` (relative): more than a rounding difference."""
    mask_ratio = mask_shape[1] / max(mask_shape[0], 1)
    frame_ratio = frame_shape[1] / max(frame_shape[0], 1)
    return abs(mask_ratio / frame_ratio - 1.0) > tolerance


@dataclass
class MaskSpec:
    """Objects given per frame index: {frame: {object id: bool mask (source size)}}, with source files."""

    layout: str  # 'file' | 'objects' | 'frames'
    by_frame: Dict[int, Dict[int, np.ndarray]] = field(default_factory=dict)
    sources: Dict[int, str] = field(default_factory=dict)

    @property
    def object_ids(self) -> List[int]:
        ids: List[int] = []
        for frame in sorted(self.by_frame):
            for oid in self.by_frame[frame]:
                if oid not in ids:
                    ids.append(oid)
        return ids


def _check_ids(ids, where: str) -> None:
    bad = [i for i in ids if not 1 <= i <= MAX_OBJECT_ID]
    if bad:
        raise UserError(f"{where}: object id {bad[0]} out of range (ids must be 1..{MAX_OBJECT_ID})")


def load_masks(path: Path, frame_stems: Sequence[str], layout: str = "auto") -> MaskSpec:
    """Read ``--masks``: a label PNG, a folder of per-object PNGs, or a folder of per-frame PNGs."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"masks path {path} does not exist")
    index_of = {stem: i for i, stem in enumerate(frame_stems)}
    if path.is_file():
        frame = index_of.get(path.stem, 0)
        labels = read_label_png(path)
        spec = MaskSpec("file", {frame: labels_to_objects(labels)}, {frame: str(path)})
        if frame:
            logger.info("mask %s matches frame %s: its objects start there", path.name, path.stem)
    else:
        files = list_images(path, MASK_EXTS, what="masks")
        matched = [p for p in files if p.stem in index_of]
        if layout == "auto":
            layout = "frames" if matched else "objects"
        if layout == "frames":
            if not matched:
                # forced: match by number (e.g. masks 5.png for frame 00005)
                numeric = {int(s): i for i, s in enumerate(frame_stems) if s.isdigit()}
                matched = [p for p in files if p.stem.isdigit() and int(p.stem) in numeric]
                lookup = {p.stem: numeric[int(p.stem)] for p in matched}
            else:
                lookup = {p.stem: index_of[p.stem] for p in matched}
            unmatched = [p.name for p in files if p not in matched]
            if unmatched:
                logger.warning("ignoring %d mask file(s) that match no frame name: %s",
                               len(unmatched), ", ".join(unmatched[:5]))
            spec = MaskSpec("frames")
            for p in matched:
                frame = lookup[p.stem]
                spec.by_frame[frame] = labels_to_objects(read_label_png(p))
                spec.sources[frame] = str(p)
        elif layout == "objects":
            stems = [p.stem for p in files]
            numeric = all(s.isdigit() for s in stems)
            ids = [int(s) for s in stems] if numeric else list(range(1, len(files) + 1))
            _check_ids(ids, f"masks folder {path}")
            objects = {}
            shapes = set()
            for oid, p in zip(ids, files):
                mask = read_label_png(p) > 0
                shapes.add(mask.shape)
                objects[oid] = mask
            if len(shapes) > 1:
                raise UserError(f"the per-object masks in {path} have different sizes: {sorted(shapes)}")
            spec = MaskSpec("objects", {0: objects}, {0: str(path)})
        else:
            raise UserError(f"unknown masks layout {layout!r}")
    for frame, objs in spec.by_frame.items():
        _check_ids(objs, spec.sources.get(frame, str(path)))
    if not any(objs for objs in spec.by_frame.values()):
        raise UserError(f"no objects in masks {path} (all pixels are background 0 or void 255)")
    return spec
