"""``vots-tracker track``: track objects through a folder of frames or a video, outside the toolkit.

Output: ``OUT/<frame stem>.png`` palette masks (palette index = object id, DAVIS colours),
optionally overlay PNGs (``OUT/overlay/<stem>.png``) and an overlay MP4. Everything is
written to a temporary folder first and moved into place only when the run succeeds.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .errors import UserError

logger = logging.getLogger(__name__)

DEFAULT_FPS = 25.0


def register(subparsers) -> None:
    from .config import add_tracker_arguments

    parser = subparsers.add_parser(
        "track",
        help="track objects in a folder of frames or a video; write palette PNG masks (and overlays)",
        description=(
            "Track objects through a folder of frames (--frames) or a video (--video) and write one palette "
            "PNG per frame to OUT (palette index = object id). --masks is a palette PNG with the first frame's "
            "objects (0 background, 255 void), a folder of one binary PNG per object (id = numeric file stem, "
            "else sorted order), or a folder of masks named like the frames (objects that appear on those "
            "frames; an id that is already tracked is ignored in later masks). Video frames are named "
            "00000, 00001, ... A mask whose size differs from its frame is resized (nearest neighbour) "
            "with a warning."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--frames", metavar="DIR", help="folder of frames (jpg/png, sorted by name)")
    source.add_argument("--video", metavar="FILE", help="video file (anything OpenCV reads)")
    parser.add_argument("--masks", metavar="PATH", required=True,
                        help="initial masks: palette PNG, folder of per-object PNGs, or folder of per-frame PNGs")
    parser.add_argument("--masks-layout", choices=("auto", "frames", "objects"), default="auto",
                        help="how to read a --masks folder [default: auto: 'frames' if any file is named like "
                        "a frame, else 'objects']")
    parser.add_argument("--out", metavar="DIR", required=True, help="output folder for the palette PNG masks")
    parser.add_argument("--overlay-video", metavar="FILE", help="also write an MP4 with the masks drawn on the frames")
    parser.add_argument("--overlay-frames", action="store_true", help="also write OUT/overlay/<stem>.png overlays")
    parser.add_argument("--fps", type=float, default=None,
                        help=f"overlay video frame rate [default: the input video's, else {DEFAULT_FPS:g}]")
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT folder / existing video")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_tracker_arguments(parser)
    parser.set_defaults(func=run)


def _labels(masks: Dict[int, np.ndarray], shape) -> np.ndarray:
    labels = np.zeros(shape[:2], dtype=np.uint8)
    for oid, mask in masks.items():  # arrival order; a later object wins where masks overlap
        labels[np.asarray(mask, dtype=bool)] = oid
    return labels


def run(args: argparse.Namespace) -> int:
    from .config import ConfigError, config_from_args
    from .frame_source import FrameSource
    from .mask_files import fit_mask, load_masks
    from .palette import write_palette_png
    from .staging import StagedDir

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        raise UserError(str(exc)) from None

    # --- check every input before loading models (slow) ---
    source = FrameSource(frames=Path(args.frames) if args.frames else None,
                         video=Path(args.video) if args.video else None)
    spec = load_masks(Path(args.masks), source.stems, layout=args.masks_layout)
    out = Path(args.out)
    video_path = Path(args.overlay_video) if args.overlay_video else None
    if video_path is not None:
        if video_path.suffix.lower() != ".mp4":
            raise UserError(f"--overlay-video must name an .mp4 file, got {video_path}")
        if video_path.exists() and not args.force:
            raise UserError(f"overlay video {video_path} exists (use --force to replace it)")
        if video_path.is_dir():
            raise UserError(f"overlay video path {video_path} is a folder")
    if source.count is not None:
        late = [f for f in spec.by_frame if f >= source.count]
        if late:
            raise UserError(f"masks name frame {late[0]} but the input has {source.count} frames")
    stage = StagedDir(out, force=args.force)
    stage.check()
    logger.info("%s: %s frames, %d object(s) (ids %s) from %s masks",
                args.frames or args.video, source.count if source.count is not None else "?",
                len(spec.object_ids), ", ".join(map(str, spec.object_ids)), spec.layout)

    from tqdm import tqdm

    from .session import Tracker

    tracker = Tracker.from_config(config)
    fps = args.fps or source.fps or DEFAULT_FPS

    with stage as tmp:
        writer = None
        tmp_video = tmp / ".overlay-video.mp4"
        overlay_dir = tmp / "overlay"
        if args.overlay_frames:
            overlay_dir.mkdir()
        session = tracker.new_session()
        known: List[int] = []
        ignored_logged = set()
        first_shape = None
        written = 0
        try:
            bar = tqdm(total=source.count, desc="track", unit="frame", file=sys.stderr,
                       disable=args.no_progress, mininterval=0.5)
            with bar:
                for index, stem, frame in source:
                    if first_shape is None:
                        first_shape = frame.shape
                    elif frame.shape != first_shape:
                        raise UserError(
                            f"frame {stem} is {frame.shape[1]}x{frame.shape[0]} but earlier frames are "
                            f"{first_shape[1]}x{first_shape[0]}; all frames must have the same size"
                        )
                    new: Dict[int, np.ndarray] = {}
                    for oid, mask in spec.by_frame.get(index, {}).items():
                        if oid in known:
                            if (oid, index) not in ignored_logged:
                                logger.debug("frame %s: object %d is already tracked; its mask here is ignored",
                                             stem, oid)
                                ignored_logged.add((oid, index))
                            continue
                        where = f"mask {spec.sources.get(index, '')} (frame {stem})"
                        mask = fit_mask(mask, frame.shape, where)
                        if not mask.any():
                            logger.warning("%s: object %d is empty after resizing; ignored", where, oid)
                            continue
                        new[oid] = mask
                    if not known and not new:
                        masks: Dict[int, np.ndarray] = {}  # before the first object: nothing to track yet
                    else:
                        if new:
                            logger.info("frame %s: new object(s) %s", stem, ", ".join(map(str, new)))
                        masks = {int(oid): np.asarray(m, dtype=bool) for oid, m in session.step(frame, new).items()}
                        known.extend(oid for oid in new if oid not in known)
                    write_palette_png(tmp / f"{stem}.png", _labels(masks, frame.shape))
                    if args.overlay_frames or video_path is not None:
                        from .overlay import VideoWriter, draw_overlay
                        import cv2

                        overlay = draw_overlay(frame, masks)
                        if args.overlay_frames:
                            if not cv2.imwrite(str(overlay_dir / f"{stem}.png"), overlay):
                                raise UserError(f"cannot write overlay {overlay_dir / (stem + '.png')}")
                        if video_path is not None:
                            if writer is None:
                                writer = VideoWriter(tmp_video, fps, (frame.shape[1], frame.shape[0]))
                            writer.write(overlay)
                    written += 1
                    bar.update(1)
        finally:
            session.close()
            if writer is not None:
                writer.close(verify=False)
        if not known:
            raise UserError(f"no objects to track: the masks in {args.masks} match no frame of the input")
        if written == 0:
            raise UserError("the input has no frames")
        if writer is not None:
            from .overlay import check_video

            check_video(tmp_video, writer.frames, writer.size)
            video_path.parent.mkdir(parents=True, exist_ok=True)
            inside = _is_inside(video_path, out)
            if inside:  # the video goes into OUT itself: place it in the staged folder
                target = tmp / video_path.resolve().relative_to(out.resolve())
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_video, target)
            else:
                shutil.move(str(tmp_video), str(video_path))
    logger.info("wrote %d mask(s) to %s%s", written, out,
                f" and the overlay video {video_path}" if video_path is not None else "")
    return 0


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
