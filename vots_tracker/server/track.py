"""``vots-tracker track``: track objects through a folder of frames or a video, outside the toolkit.

Output: ``OUT/<frame stem>.png`` palette masks (palette index = object id, DAVIS colours),
``OUT/gate_decisions.jsonl`` (the gate's decisions, when refining: see ``decision_log``),
optionally overlay PNGs (``OUT/overlay/<stem>.png``) and an overlay MP4. Everything is
written to a temporary folder first and moved into place only when the run succeeds.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from ..errors import UserError
from ..media.frame_source import FrameSource
from ..media.mask_files import MaskSpec, fit_mask, load_masks
from ..media.overlay import DEFAULT_FPS
from ..media.palette import write_palette_png
from ..media.staging import StagedDir, refuse_output_file, refuse_overlap, staged_file

logger = logging.getLogger(__name__)

DECISIONS_NAME = "gate_decisions.jsonl"  # OUT/<this>: the gate's decisions (decision_log), when refining


def register(subparsers) -> None:
    from ..config import add_tracker_arguments

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
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier output in OUT / an existing video (OUT must hold nothing else)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_tracker_arguments(parser)
    parser.set_defaults(func=run)


def _labels(masks: Dict[int, np.ndarray], shape) -> np.ndarray:
    labels = np.zeros(shape[:2], dtype=np.uint8)
    for oid, mask in masks.items():  # arrival order; a later object wins where masks overlap
        labels[np.asarray(mask, dtype=bool)] = oid
    return labels


@dataclass
class TrackJob:
    """Everything ``track`` reads and writes, checked before the models load (slow)."""

    source: FrameSource
    spec: MaskSpec
    out: Path
    video_path: Optional[Path]
    overlay_frames: bool
    stage: StagedDir


def _output_names(source: FrameSource, out: Path, video_path: Optional[Path]) -> Callable[[Path], bool]:
    """What ``track`` writes into OUT (relative paths): what ``--force`` may replace there."""
    stems = set(source.stems)
    video = video_path.resolve().relative_to(out.resolve()) if video_path and _is_inside(video_path, out) else None

    def is_mask(name: str) -> bool:  # a video of unknown length has frame stems 00000, 00001, ...
        stem, suffix = os.path.splitext(name)
        return suffix == ".png" and (stem in stems or (source.count is None and re.fullmatch(r"\d{5}", stem)))

    def ours(relative: Path) -> bool:
        parts = relative.parts
        if video is not None and (relative == video or relative in video.parents):
            return True
        if len(parts) == 1:
            return parts[0] in ("overlay", DECISIONS_NAME) or is_mask(parts[0])
        return len(parts) == 2 and parts[0] == "overlay" and is_mask(parts[1])

    return ours


def _check_overlay_video(video_path: Optional[Path], force: bool, inputs: Dict[str, Optional[str]]) -> None:
    if video_path is None:
        return
    if video_path.suffix.lower() != ".mp4":
        raise UserError(f"--overlay-video must name an .mp4 file, got {video_path}")
    refuse_output_file(video_path, inputs, "--overlay-video")
    if video_path.exists() and not force:
        raise UserError(f"overlay video {video_path} exists (use --force to replace it)")
    if video_path.is_dir():
        raise UserError(f"overlay video path {video_path} is a folder")


def check_job(args: argparse.Namespace) -> TrackJob:
    """Read the frames and masks, and refuse outputs that would touch an input or an unrelated file."""
    source = FrameSource(frames=Path(args.frames) if args.frames else None,
                         video=Path(args.video) if args.video else None)
    spec = load_masks(Path(args.masks), source.stems, layout=args.masks_layout)
    out = Path(args.out)
    inputs = {"--frames": args.frames, "--masks": args.masks, "--video": args.video}
    refuse_overlap(out, inputs, "--out")
    video_path = Path(args.overlay_video) if args.overlay_video else None
    _check_overlay_video(video_path, args.force, inputs)
    if source.count is not None:
        late = [f for f in spec.by_frame if f >= source.count]
        if late:
            raise UserError(f"masks name frame {late[0]} but the input has {source.count} frames")
    stage = StagedDir(out, force=args.force, ours=_output_names(source, out, video_path))
    stage.check()
    return TrackJob(source, spec, out, video_path, args.overlay_frames, stage)


class OutputWriter:
    """Writes one frame's palette PNG, overlay PNG and overlay-video frame into the staged folder."""

    def __init__(self, tmp: Path, job: TrackJob, fps: float):
        self.tmp = tmp
        self.job = job
        self.fps = fps
        self.video = None
        self.tmp_video = tmp / ".overlay-video.mp4"
        self.overlay_dir = tmp / "overlay"
        if job.overlay_frames:
            self.overlay_dir.mkdir()
        self.written = 0

    def write(self, stem: str, frame: np.ndarray, masks: Dict[int, np.ndarray]) -> None:
        write_palette_png(self.tmp / f"{stem}.png", _labels(masks, frame.shape))
        if self.job.overlay_frames or self.job.video_path is not None:
            self._write_overlay(stem, frame, masks)
        self.written += 1

    def _write_overlay(self, stem: str, frame: np.ndarray, masks: Dict[int, np.ndarray]) -> None:
        import cv2

        from ..media.overlay import VideoWriter, draw_overlay

        overlay = draw_overlay(frame, masks)
        if self.job.overlay_frames and not cv2.imwrite(str(self.overlay_dir / f"{stem}.png"), overlay):
            raise UserError(f"cannot write overlay {self.overlay_dir / (stem + '.png')}")
        if self.job.video_path is not None:
            if self.video is None:
                self.video = VideoWriter(self.tmp_video, self.fps, (frame.shape[1], frame.shape[0]))
            self.video.write(overlay)

    def close(self) -> None:
        if self.video is not None:
            self.video.close(verify=False)

    def place_video(self) -> None:
        """Check the overlay video and move it to ``--overlay-video`` (into the staged folder if inside OUT)."""
        if self.video is None:
            return
        from ..media.overlay import check_video

        check_video(self.tmp_video, self.video.frames, self.video.size)
        video_path, out = self.job.video_path, self.job.out
        if _is_inside(video_path, out):
            target = self.tmp / video_path.resolve().relative_to(out.resolve())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp_video, target)
            return
        video_path.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(video_path) as tmp:  # may cross file systems: never a half-copied video
            shutil.move(str(self.tmp_video), str(tmp))


class ObjectArrivals:
    """The objects each frame adds: masks of ids not tracked yet, fitted to the frame."""

    def __init__(self, spec: MaskSpec):
        self.spec = spec
        self.known: List[int] = []

    def new_objects(self, index: int, stem: str, frame_shape) -> Dict[int, np.ndarray]:
        new: Dict[int, np.ndarray] = {}
        for oid, mask in self.spec.by_frame.get(index, {}).items():
            if oid in self.known:
                logger.debug("frame %s: object %d is already tracked; its mask here is ignored", stem, oid)
                continue
            where = f"mask {self.spec.sources.get(index, '')} (frame {stem})"
            mask = fit_mask(mask, frame_shape, where)
            if not mask.any():
                logger.warning("%s: object %d is empty after resizing; ignored", where, oid)
                continue
            new[oid] = mask
        if new:
            logger.info("frame %s: new object(s) %s", stem, ", ".join(map(str, new)))
            self.known.extend(new)
        return new


def _check_frame_size(stem: str, frame: np.ndarray, first_shape) -> None:
    if frame.shape != first_shape:
        raise UserError(
            f"frame {stem} is {frame.shape[1]}x{frame.shape[0]} but earlier frames are "
            f"{first_shape[1]}x{first_shape[0]}; all frames must have the same size"
        )


def track_frames(session, job: TrackJob, writer: OutputWriter, progress) -> ObjectArrivals:
    """Run the session over every frame, writing each frame's output; returns who arrived."""
    arrivals = ObjectArrivals(job.spec)
    first_shape = None
    for index, stem, frame in job.source:
        first_shape = first_shape or frame.shape
        _check_frame_size(stem, frame, first_shape)
        new = arrivals.new_objects(index, stem, frame.shape)
        masks: Dict[int, np.ndarray] = {}  # before the first object: nothing to track yet
        if arrivals.known:
            masks = {int(oid): np.asarray(m, dtype=bool) for oid, m in session.step(frame, new).items()}
        writer.write(stem, frame, masks)
        progress.update(1)
    return arrivals


def run(args: argparse.Namespace) -> int:
    from ..config import ConfigError, config_from_args

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    job = check_job(args)
    logger.info("%s: %s frames, %d object(s) (ids %s) from %s masks",
                args.frames or args.video, job.source.count if job.source.count is not None else "?",
                len(job.spec.object_ids), ", ".join(map(str, job.spec.object_ids)), job.spec.layout)

    from tqdm import tqdm

    from .session import Tracker

    tracker = Tracker.from_config(config)
    with job.stage as tmp:
        writer = OutputWriter(tmp, job, args.fps or job.source.fps or DEFAULT_FPS)
        session = tracker.new_session()
        session.keep_decisions(tmp / DECISIONS_NAME, None, Path(args.frames or args.video).stem)
        try:
            with tqdm(total=job.source.count, desc="track", unit="frame", file=sys.stderr,
                      disable=args.no_progress, mininterval=0.5) as progress:
                arrivals = track_frames(session, job, writer, progress)
        finally:
            session.close()
            writer.close()
        if not arrivals.known:
            raise UserError(f"no objects to track: the masks in {args.masks} match no frame of the input")
        if writer.written == 0:
            raise UserError("the input has no frames")
        writer.place_video()
    logger.info("wrote %d mask(s) to %s%s", writer.written, job.out,
                f" and the overlay video {job.video_path}" if job.video_path is not None else "")
    return 0


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
