"""``vots-tracker convert davis|frames``: write VOT-toolkit sequences from DAVIS or frames+masks.

Layout written (what ``vot.dataset.common.read_sequence`` loads)::

    OUT/list.txt                     sequence names, one per line (merged with an existing list)
    OUT/<seq>/sequence               name, fps, format, channels.color=color/%08d.jpg, width, height, length
    OUT/<seq>/color/00000001.jpg ...
    OUT/<seq>/groundtruth_<id>.txt   one region per frame: m<x>,<y>,<w>,<h>,<RLE> masks

Ground truth per object and frame:

* frames before the object's first annotated appearance: ``0`` (unknown). The toolkit
  starts an object at its first non-special region (``experiment.helpers._objectstart``),
  so an empty mask there would make it initialise the object on frame 0 with an empty mask;
  the accuracy measures skip unknown frames;
* frames with an annotation: the object's mask, empty (``m0,0,0,0,0``) when it is absent;
* frames without an annotation (sparse annotations such as first-appearance-only masks):
  ``0`` (unknown).
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError
from ..media.staging import StagedDir, refuse_overlap, write_text_atomic

logger = logging.getLogger(__name__)

GENERIC_FRAME_DIRS = {"images", "frames", "color", "jpegimages", "img", "imgs", "rgb"}


def _regions(by_frame: Dict[int, Dict[int, np.ndarray]], length: int, annotated: Sequence[int],
             object_ids: List[int], sparse: bool = False):
    """Per object: list of vot regions for every frame (see the module doc)."""
    from vot.region import Special
    from vot.region.shapes import Mask

    empty = np.zeros((0, 0), dtype=np.uint8)
    annotated_set = set(annotated)
    out = {}
    for oid in object_ids:
        first = min(f for f, objs in by_frame.items() if oid in objs and objs[oid].any())
        regions = []
        for frame in range(length):
            known = frame in annotated_set and (not sparse or oid in by_frame.get(frame, {}))
            if frame < first or not known:
                regions.append(Special(0))
                continue
            mask = by_frame.get(frame, {}).get(oid)
            if mask is None or not mask.any():
                regions.append(Mask(empty.copy(), offset=(0, 0)))
            else:
                regions.append(Mask(mask.astype(np.uint8), offset=(0, 0), optimize=True))
        out[oid] = regions
    return out


def _sequence_files(relative: Path) -> bool:
    """What :func:`write_sequence` writes into a sequence folder: what ``--force`` may replace there."""
    parts = relative.parts
    if len(parts) == 1:
        return parts[0] in ("sequence", "color") or re.fullmatch(r"groundtruth(_\d+)?\.txt", parts[0]) is not None
    return len(parts) == 2 and parts[0] == "color" and re.fullmatch(r"\d{8}\.jpg", parts[1]) is not None


def _write_frames(color: Path, frame_files: List[Path]) -> Tuple[int, int]:
    """JPEG frames copied byte for byte, others (and truncated JPEGs) re-encoded as JPEG (quality 95).

    Returns the frames' (height, width).
    """
    import cv2

    from ..media.frame_source import check_file, decode_image, jpeg_is_truncated

    first_shape = None
    for i, src in enumerate(frame_files):
        dst = color / f"{i + 1:08d}.jpg"
        check_file(src, "image")
        data = src.read_bytes()
        image = decode_image(data, src)
        if image is None:
            raise UserError(f"cannot read image {src}")
        shape = image.shape[:2]
        if src.suffix.lower() in (".jpg", ".jpeg") and not jpeg_is_truncated(data):
            dst.write_bytes(data)
        elif not cv2.imwrite(str(dst), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise UserError(f"cannot write {dst}")
        if first_shape is None:
            first_shape = shape
        elif shape != first_shape:
            raise UserError(f"frame {src} is {shape[1]}x{shape[0]} but earlier frames are "
                            f"{first_shape[1]}x{first_shape[0]}")
    assert first_shape is not None
    return first_shape


def _object_ids(name: str, by_frame: Dict[int, Dict[int, np.ndarray]]) -> List[int]:
    object_ids = sorted({oid for objs in by_frame.values() for oid, mask in objs.items() if mask.any()})
    if not object_ids:
        raise UserError(f"sequence {name}: no objects in the masks")
    return object_ids


def write_sequence(out_root: Path, name: str, frame_files: List[Path], by_frame: Dict[int, Dict[int, np.ndarray]],
                   annotated: Sequence[int], *, fps: int = 30, force: bool = False, sparse: bool = False,
                   extra_meta: Optional[Dict[str, str]] = None) -> Path:
    """Write one VOT sequence folder atomically (temp folder, then rename) and return its path.

    ``annotated``: frames with an annotation; with ``sparse`` an object is known on such a frame
    only if that frame's masks contain it (else every object is known there, empty if absent).
    """
    from vot.region.io import write_trajectory
    from vot.utilities import write_properties

    from ..media.mask_files import fit_mask

    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise UserError(f"invalid sequence name {name!r}")
    final = out_root / name
    stage = StagedDir(final, force=force, what="sequence folder", ours=_sequence_files)
    if final.exists() and not force:
        raise UserError(f"sequence folder {final} exists (use --force to replace it)")
    object_ids = _object_ids(name, by_frame)
    with stage as tmp:
        (tmp / "color").mkdir()
        height, width = _write_frames(tmp / "color", frame_files)
        fitted = {
            frame: {oid: fit_mask(m, (height, width), f"{name}: mask of object {oid} on frame {frame}")
                    for oid, m in objs.items()}
            for frame, objs in by_frame.items()
        }
        for oid, trajectory in _regions(fitted, len(frame_files), annotated, object_ids, sparse).items():
            write_trajectory(str(tmp / f"groundtruth_{oid}.txt"), trajectory)
        meta = {
            "name": name,
            "fps": str(int(fps)),
            "format": "default",
            "channel.default": "color",
            "channels.color": "color/%08d.jpg",
            "width": str(width),
            "height": str(height),
            "length": str(len(frame_files)),
        }
        meta.update(extra_meta or {})
        write_properties(str(tmp / "sequence"), meta)
    logger.info("wrote sequence %s: %d frames, %d object(s)", final, len(frame_files), len(object_ids))
    return final


def update_list(out_root: Path, names: Sequence[str]) -> Path:
    path = out_root / "list.txt"
    existing: List[str] = []
    if path.is_file():
        existing = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for name in names:
        if name not in existing:
            existing.append(name)
    return write_text_atomic(path, "\n".join(existing) + "\n")


def _prepare_out(out: Path) -> bool:
    """Create OUT if needed; return True if we created it (so it can be removed on failure)."""
    if out.exists():
        if not out.is_dir():
            raise UserError(f"output {out} exists and is not a folder")
        return False
    try:
        out.mkdir(parents=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    return True


# --------------------------------------------------------------------------- davis


def _davis_sequence(root: Path, resolution: str, seq: str):
    from ..media.frame_source import list_images
    from ..media.mask_files import labels_to_objects, read_label_png

    frames = list_images(root / "JPEGImages" / resolution / seq, what=f"DAVIS frames of {seq}")
    ann_dir = root / "Annotations" / resolution / seq
    ann_files = {p.stem: p for p in list_images(ann_dir, (".png",), what=f"DAVIS annotations of {seq}")}
    by_frame: Dict[int, Dict[int, np.ndarray]] = {}
    annotated: List[int] = []
    for i, frame in enumerate(frames):
        ann = ann_files.get(frame.stem)
        if ann is None:
            continue
        by_frame[i] = labels_to_objects(read_label_png(ann))
        annotated.append(i)
    if not annotated:
        raise UserError(f"DAVIS sequence {seq}: no annotation in {ann_dir} matches a frame name")
    return frames, by_frame, annotated


def run_davis(args: argparse.Namespace) -> int:
    root = Path(args.root)
    res = args.resolution
    if not (root / "JPEGImages" / res).is_dir() or not (root / "Annotations" / res).is_dir():
        raise UserError(f"{root} is not a DAVIS folder: expected JPEGImages/{res}/ and Annotations/{res}/")
    available = sorted(p.name for p in (root / "Annotations" / res).iterdir() if p.is_dir())
    if args.sequences:
        missing = [s for s in args.sequences if s not in available]
        if missing:
            raise UserError(f"DAVIS sequence(s) not in {root / 'Annotations' / res}: {', '.join(missing)}")
        sequences = list(args.sequences)
    else:
        sequences = available
    if not sequences:
        raise UserError(f"no sequences in {root / 'Annotations' / res}")
    out = Path(args.out)
    refuse_overlap(out, {"ROOT": root})
    for seq in sequences:  # refuse before writing anything
        if (out / seq).exists() and not args.force:
            raise UserError(f"sequence folder {out / seq} exists (use --force to replace it)")
    created = _prepare_out(out)
    done: List[str] = []
    try:
        from tqdm import tqdm

        for seq in tqdm(sequences, desc="convert", unit="seq", file=sys.stderr, disable=len(sequences) < 2):
            frames, by_frame, annotated = _davis_sequence(root, res, seq)
            write_sequence(out, seq, frames, by_frame, annotated, fps=args.fps, force=args.force)
            done.append(seq)
        update_list(out, done)
    except BaseException:
        for seq in done:
            shutil.rmtree(out / seq, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    print(out / "list.txt")
    return 0


# --------------------------------------------------------------------------- frames + masks


def _default_name(frames: Path) -> str:
    frames = frames.resolve()
    name = frames.name
    if name.lower() in GENERIC_FRAME_DIRS and frames.parent.name:
        name = frames.parent.name
    return name


def run_frames(args: argparse.Namespace) -> int:
    from ..media.frame_source import list_images
    from ..media.mask_files import load_masks

    frames_dir = Path(args.frames)
    frames = list_images(frames_dir)
    stems = [p.stem for p in frames]
    spec = load_masks(Path(args.masks), stems, layout=args.masks_layout)
    name = args.name or _default_name(frames_dir)
    annotations = args.annotations
    if annotations == "auto":
        annotations = "dense" if len(spec.by_frame) == len(frames) else "sparse"
    if annotations == "dense":
        missing = [stems[i] for i in range(len(frames)) if i not in spec.by_frame]
        if missing:
            raise UserError(f"--annotations dense but no mask for frame(s) {', '.join(missing[:5])}")
    elif spec.layout == "frames":
        logger.info("sparse annotations (%d of %d frames have masks): an object is known only on frames whose "
                    "mask contains it, unknown elsewhere", len(spec.by_frame), len(frames))
    by_frame = spec.by_frame
    out = Path(args.out)
    refuse_overlap(out, {"FRAMES": frames_dir, "MASKS": args.masks})
    if (out / name).exists() and not args.force:
        raise UserError(f"sequence folder {out / name} exists (use --force to replace it)")
    created = _prepare_out(out)
    try:
        path = write_sequence(out, name, frames, by_frame, sorted(by_frame), fps=args.fps, force=args.force,
                              sparse=annotations == "sparse")
        update_list(out, [name])
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    print(path)
    return 0


# --------------------------------------------------------------------------- parser


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert DAVIS or frames+masks into VOT-toolkit sequences",
        description="Write sequences in the VOT toolkit's layout (OUT/<seq>/sequence, color/%08d.jpg, "
        "groundtruth_<id>.txt masks, OUT/list.txt) for `vot evaluate` / `vot analysis`.",
    )
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])
    sub = parser.add_subparsers(dest="convert_command", metavar="FORMAT")

    p = sub.add_parser(
        "davis", help="DAVIS 2016 (0/255) or 2017 (palette) folders",
        description="Convert DAVIS sequences: ROOT/JPEGImages/<res>/<seq>/*.jpg and "
        "ROOT/Annotations/<res>/<seq>/*.png (DAVIS 2016 0/255 single-object or DAVIS 2017 palette "
        "multi-object masks). Frames without an annotation file (test-dev) get unknown ground truth.",
    )
    p.add_argument("root", metavar="ROOT", help="DAVIS root folder")
    p.add_argument("out", metavar="OUT", help="output dataset folder (list.txt is created or extended)")
    p.add_argument("--resolution", default="480p", help="resolution folder [default: 480p]")
    p.add_argument("--sequences", nargs="+", metavar="SEQ", help="only these sequences [default: all]")
    p.add_argument("--fps", type=int, default=24, help="fps written to the sequence file [default: 24]")
    p.add_argument("--force", action="store_true", help="replace existing sequence folders")
    p.set_defaults(func=run_davis)

    p = sub.add_parser(
        "frames", help="a folder of frames plus masks (same --masks forms as `track`)",
        description="Convert a folder of frames and masks into one VOT sequence. MASKS is a label PNG "
        "(first frame), a folder of per-object binary PNGs (first frame), or a folder of masks named like "
        "the frames. With masks on every frame the annotation is dense (an object missing from a mask is "
        "absent there); otherwise sparse (an object is known only on frames whose mask contains it).",
    )
    p.add_argument("frames", metavar="FRAMES", help="folder of frames")
    p.add_argument("masks", metavar="MASKS", help="mask PNG or folder")
    p.add_argument("out", metavar="OUT", help="output dataset folder (list.txt is created or extended)")
    p.add_argument("--name", help="sequence name [default: the frames folder's name, or its parent's for "
                   "generic names like images/]")
    p.add_argument("--masks-layout", choices=("auto", "frames", "objects"), default="auto",
                   help="how to read a MASKS folder [default: auto]")
    p.add_argument("--annotations", choices=("auto", "dense", "sparse"), default="auto",
                   help="dense: every frame annotated; sparse: only objects in a frame's mask are known there "
                   "[default: auto: dense iff every frame has a mask]")
    p.add_argument("--fps", type=int, default=30, help="fps written to the sequence file [default: 30]")
    p.add_argument("--force", action="store_true", help="replace an existing sequence folder")
    p.set_defaults(func=run_frames)
