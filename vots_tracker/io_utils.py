"""Frames, masks and output folders for ``track`` and ``convert``.

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
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .errors import UserError

logger = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MASK_EXTS = (".png", ".bmp", ".tif", ".tiff")
VOID = 255
MAX_OBJECT_ID = 254


# --------------------------------------------------------------------------- palette


def davis_palette() -> np.ndarray:
    """The 256-colour palette of DAVIS / PASCAL VOC label PNGs (index 0 black)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[index] = (r, g, b)
    return palette


PALETTE = davis_palette()


def write_palette_png(path: Path, labels: np.ndarray) -> None:
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(labels.astype(np.uint8)), mode="P")
    image.putpalette(PALETTE.reshape(-1).tolist())
    image.save(str(path), format="PNG", optimize=False)


# --------------------------------------------------------------------------- images


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.stem)] + [path.suffix]


def list_images(folder: Path, exts: Sequence[str] = IMAGE_EXTS, what: str = "frames") -> List[Path]:
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{what} folder {folder} does not exist")
    if not folder.is_dir():
        raise UserError(f"{what} path {folder} is not a folder")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts and not p.name.startswith(".")]
    if not files:
        raise UserError(f"no images ({', '.join(exts)}) in {what} folder {folder}")
    files.sort(key=_natural_key)
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})[:3]
        raise UserError(f"{what} folder {folder} has several images with the same name: {', '.join(dup)}")
    return files


def decode_rgb(path) -> Optional[np.ndarray]:
    """An image file as HxWx3 uint8 RGB, decoded as the original VOTS runners read frames; None if unreadable.

    The runners use cv2.imread(IMREAD_UNCHANGED) + BGR->RGB: unlike IMREAD_COLOR this ignores
    the EXIF orientation tag. What the runners could not read is converted instead: grey
    images are repeated to RGB, an alpha channel is dropped, 16-bit images are scaled to 8 bits.
    """
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None  # any path encoding
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None and data.size else None
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_rgb(path: Path) -> np.ndarray:
    image = decode_rgb(path)
    if image is None:
        raise UserError(f"cannot read image {path}")
    return image


class FrameSource:
    """Frames of a folder of images or of a video file, with a stem per frame."""

    def __init__(self, frames: Optional[Path] = None, video: Optional[Path] = None):
        self.frames_dir = Path(frames) if frames else None
        self.video = Path(video) if video else None
        self.fps: Optional[float] = None
        if self.frames_dir is not None:
            self.files = list_images(self.frames_dir)
            self.stems = [p.stem for p in self.files]
            self.count: Optional[int] = len(self.files)
        else:
            import cv2

            if self.video is None or not self.video.is_file():
                raise UserError(f"video file {self.video} does not exist")
            cap = cv2.VideoCapture(str(self.video))
            try:
                ok, first = cap.read() if cap.isOpened() else (False, None)
                if not ok or first is None:
                    raise UserError(f"cannot read video {self.video} (not a video, or a codec OpenCV lacks)")
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            finally:
                cap.release()
            self.files = []
            self.count = count if count > 0 else None
            self.fps = fps if 0 < fps < 1000 else None
            # stems of video frames: 00000, 00001, ... (masks for a video are named like that)
            self.stems = [f"{i:05d}" for i in range(self.count or 0)]

    def stem(self, index: int) -> str:
        return self.stems[index] if index < len(self.stems) else f"{index:05d}"

    def __iter__(self) -> Iterator[Tuple[int, str, np.ndarray]]:
        if self.frames_dir is not None:
            for i, path in enumerate(self.files):
                yield i, path.stem, read_rgb(path)
            return
        import cv2

        cap = cv2.VideoCapture(str(self.video))
        try:
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                yield i, self.stem(i), cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                i += 1
            if i == 0:
                raise UserError(f"cannot read video {self.video}")
        finally:
            cap.release()


# --------------------------------------------------------------------------- masks


def read_label_png(path: Path) -> np.ndarray:
    """Read a mask image as an HxW uint8 array of object ids (see the module doc)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"mask file {path} does not exist")
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

    logger.warning("%s is %dx%d but the frame is %dx%d: resizing the mask (nearest neighbour)",
                   what, mask.shape[1], mask.shape[0], shape[1], shape[0])
    resized = cv2.resize(mask.astype(np.uint8), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_NEAREST)
    return resized.astype(mask.dtype)


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

    def first_frame(self) -> int:
        return min(f for f, objs in self.by_frame.items() if objs)


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


# --------------------------------------------------------------------------- output staging


class StagedDir:
    """Write a folder under a temporary name next to ``final``; move it into place on commit.

    On failure (any exception, KeyboardInterrupt included) the temporary folder is removed
    and ``final`` is left as it was.
    """

    def __init__(self, final: Path, force: bool = False, what: str = "output folder"):
        self.final = Path(final)
        self.force = force
        self.what = what
        self.tmp = self.final.parent / f".{self.final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def check(self) -> None:
        if self.final.exists():
            if not self.final.is_dir():
                raise UserError(f"{self.what} {self.final} exists and is not a folder")
            if any(self.final.iterdir()) and not self.force:
                raise UserError(f"{self.what} {self.final} exists and is not empty (use --force to replace it)")

    def __enter__(self) -> Path:
        self.check()
        try:
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            raise UserError(f"cannot create {self.what} next to {self.final}: {exc.strerror or exc}") from None
        return self.tmp

    def commit(self) -> None:
        old = None
        if self.final.exists():
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
