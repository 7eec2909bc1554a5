"""``vots-tracker show``: look at a workspace's results: overlay videos, contact sheets, gate plots.

Per sequence, into ``--out`` (default ``<workspace>/show/<tracker>[_vs_<other>]``):
``<sequence>.mp4`` (the overlay, or two trackers side by side with their disagreement marked),
``<sequence>_sheet.png`` (a grid of N evenly spaced frames of the same pictures) and
``<sequence>_gate_<tracker>.png`` for each shown tracker that kept gate decisions; once per run,
``acceptance.png``: the acceptance rate per sequence of every tracker of the workspace with decision files.
Each file is written under a temporary name and renamed when complete; only these names are replaced.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import UserError
from ..evaluation.evaluate import DEFAULT_WORKSPACE
from ..media.overlay import DEFAULT_FPS
from ..media.staging import staged_file, temporary_name
from .sources import ShowError, StoredMasks, WorkspaceView, digest_mismatches, display_id

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "show",
        help="overlay videos, contact sheets and gate plots of a workspace's results",
        description=(
            "Draw one tracker's results (or two side by side, --versus, the pixels where they differ in magenta) "
            "from a toolkit workspace: an MP4 per sequence, a contact sheet PNG of N evenly spaced frames, a PNG "
            "of the gate over time per tracker that kept gate decisions, and a PNG of the acceptance rate per "
            "sequence of every tracker of the workspace with decision files. A sequence or tracker without "
            "results gets one line naming it."
        ),
    )
    parser.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR",
                        help=f"toolkit workspace [{DEFAULT_WORKSPACE}]")
    parser.add_argument("--tracker", required=True, metavar="NAME", help="tracker (trackers.ini entry) to show")
    parser.add_argument("--versus", metavar="OTHER", help="a second tracker, shown side by side")
    parser.add_argument("--sequence", dest="sequences", action="append", metavar="NAME",
                        help="show only this sequence (repeatable) [all]")
    parser.add_argument("--experiment", metavar="ID", help="experiment of the stack [the first]")
    parser.add_argument("--out", metavar="DIR", help="output folder [<workspace>/show/<tracker>[_vs_<other>]]")
    parser.add_argument("--sheet", type=int, default=12, metavar="N", help="frames on the contact sheet [12]")
    parser.add_argument("--columns", type=int, metavar="C", help="contact sheet columns [the smallest square]")
    parser.add_argument("--tile-width", type=int, default=640, metavar="PX",
                        help="largest width of a contact-sheet tile; wider frames are scaled down [640]")
    parser.add_argument("--fps", type=float, metavar="F", help=f"video frame rate [the sequence's, else {DEFAULT_FPS:g}]")
    parser.add_argument("--no-video", action="store_true", help="contact sheets and plots only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)


def _out(line: str) -> None:
    print(line, flush=True)


def _check_args(args: argparse.Namespace) -> None:
    if args.sheet < 1:
        raise ShowError(f"--sheet must be at least 1, got {args.sheet}")
    if args.columns is not None and args.columns < 1:
        raise ShowError(f"--columns must be at least 1, got {args.columns}")
    if args.tile_width < 16:
        raise ShowError(f"--tile-width must be at least 16 pixels, got {args.tile_width}")
    if args.fps is not None and not args.fps > 0:
        raise ShowError(f"--fps must be positive, got {args.fps}")
    if args.versus == args.tracker:
        raise ShowError(f"--versus names the same tracker as --tracker ({args.tracker})")


def write_bytes(path: Path, data: bytes) -> None:
    with staged_file(path) as tmp:
        tmp.write_bytes(data)


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    view = WorkspaceView(Path(args.workspace), args.experiment)
    names = [args.tracker] + ([args.versus] if args.versus else [])
    trackers = [view.tracker(name) for name in names]
    sequences = view.sequences(args.sequences)
    out = Path(args.out) if args.out else view.path / "show" / "_vs_".join(names)
    out.mkdir(parents=True, exist_ok=True)
    shown, missing, undecided = 0, {name: [] for name in names}, {name: [] for name in names}
    for sequence in sequences:
        stored = [view.stored(tracker, sequence) for tracker in trackers]
        for name, masks in zip(names, stored):
            if masks is None:
                missing[name].append(sequence.name)
        if all(masks is not None for masks in stored):
            draw_sequence(sequence, stored, out, args)
            shown += 1
        for name, masks in zip(names, stored):
            if not gate_picture(view, name, sequence, masks, out):
                undecided[name].append(sequence.name)
    for name in names:
        if len(missing[name]) == len(sequences) > 1:
            _out(f"no results: {name} has none in {view.path / 'results'} (experiment {view.experiment.identifier})")
        else:
            for sequence_name in missing[name]:
                _out(f"no results: {name} has none for {sequence_name}")
        _say_undecided(name, undecided[name], len(sequences))
    if shown == 0:
        raise ShowError(f"nothing to show: no sequence has results for {' and '.join(names)} "
                        "(run `vot evaluate` first)")
    acceptance_picture(view, out)
    _out(f"show: {shown} of {len(sequences)} sequence(s) drawn into {out}")
    return 0


def draw_sequence(sequence, stored: Sequence[StoredMasks], out: Path, args: argparse.Namespace) -> None:
    """The video (unless --no-video) and the contact sheet of one sequence."""
    from tqdm import tqdm

    from .render import contact_sheet, corner_label, sheet_frames, tile_scale

    length = len(sequence)
    picked = sheet_frames(length, args.sheet)
    titles = [masks.tracker for masks in stored]
    tiles = []
    video = None if args.no_video else _Video(out / f"{sequence.name}.mp4", _fps(sequence, args.fps), sequence.size,
                                              len(stored) == 2)
    frames = range(length) if video is not None else picked
    try:
        with tqdm(total=len(frames), desc=sequence.name, unit="frame", file=sys.stderr, leave=False,
                  disable=args.no_progress, delay=2.0) as progress:
            for index in frames:
                image, differ = _frame_picture(sequence, stored, index, titles)
                corner_label(image, f"frame {index}" + (f"  differ: {differ} px" if differ is not None else ""))
                if video is not None:
                    video.write(image)
                if index in picked:
                    tiles.append(image)
                progress.update(1)
        if video is not None:
            _out(f"video: {video.finish()}")
    finally:
        if video is not None:
            video.discard()
    sheet = contact_sheet(tiles, args.columns, tile_scale(tiles[0].shape[1], args.tile_width * len(stored)))
    path = out / f"{sequence.name}_sheet.png"
    write_bytes(path, _png(sheet))
    _out(f"sheet: {path}")


def _frame_picture(sequence, stored: Sequence[StoredMasks], index: int, titles):
    from .render import as_rgb, compose, disagreement

    frame = as_rgb(sequence.frame(index).image())
    masks = [s.frame(index) for s in stored]
    differ = int(disagreement(masks[0], masks[1], frame.shape[:2]).sum()) if len(masks) == 2 else None
    return compose(frame, masks, titles), differ


def _png(image_bgr) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", image_bgr)
    if not ok:
        raise UserError("cannot encode a PNG (OpenCV)")
    return data.tobytes()


def _fps(sequence, fps: Optional[float]) -> float:
    if fps:
        return fps
    try:
        value = float(sequence.metadata("fps", DEFAULT_FPS))
    except (TypeError, ValueError):
        value = DEFAULT_FPS
    return value if value > 0 else DEFAULT_FPS


class _Video:
    """An MP4 written under a temporary ``.mp4`` name, read back (frame count, size), then renamed."""

    def __init__(self, path: Path, fps: float, frame_size: Tuple[int, int], versus: bool):
        from ..media.overlay import VideoWriter
        from .render import video_size

        self.path = path
        self.tmp = temporary_name(path, "partial").with_suffix(".mp4")  # OpenCV picks the container by suffix
        self.writer = VideoWriter(self.tmp, fps, video_size(*frame_size, versus))

    def write(self, image) -> None:
        self.writer.write(image)

    def finish(self) -> Path:
        self.writer.close(verify=True)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self.writer.close(verify=False)
        if self.tmp.exists():
            self.tmp.unlink()


def _say_undecided(tracker: str, sequences: List[str], total: int) -> None:
    """One line for a tracker without any decision file, else one per sequence that lacks one."""
    if not sequences:
        return
    if len(sequences) == total:
        _out(f"no gate decisions: {tracker} kept none (it does not refine, or ran without "
             f"VOTS_TRACKER_NAME: its trackers.ini entry predates `workspace init` writing env_VOTS_TRACKER_NAME)")
        return
    for name in sequences:
        _out(f"no gate decisions: {tracker} kept none for {name}")


def gate_picture(view: WorkspaceView, tracker: str, sequence, stored: Optional[StoredMasks], out: Path) -> bool:
    """The sequence's gate plot for one tracker; False when it kept no decisions there."""
    from .gate_plots import plot_sequence_gate

    decisions = view.decisions(tracker, sequence.name)
    if decisions is None:
        return False
    if stored is not None:
        bad = digest_mismatches(stored, decisions)
        if bad:
            _out(f"warning: {decisions.path} disagrees with the stored results of {tracker} on {len(bad)} mask(s) "
                 f"(first: frame:object {bad[0]}); it comes from another run")
    from vot.experiment.helpers import MultiObjectHelper

    order = [str(n) for n in MultiObjectHelper(sequence).all()]
    names = {arrival: str(display_id(name, arrival)) for arrival, name in enumerate(order, 1)}
    path = out / f"{sequence.name}_gate_{tracker}.png"
    plot_sequence_gate(decisions, names, len(sequence), path, write_bytes)
    _out(f"gate: {path}")
    return True


def acceptance_picture(view: WorkspaceView, out: Path) -> None:
    """acceptance.png: every tracker with decision files, every sequence of the experiment."""
    from .gate_plots import plot_workspace_acceptance, totals

    rates: Dict[str, Dict[str, Tuple[int, int]]] = {}
    for tracker in view.trackers_with_decisions():
        for sequence in view.sequences():
            decisions = view.decisions(tracker, sequence.name)
            if decisions is not None:
                rates.setdefault(tracker, {})[sequence.name] = totals(decisions)
    if not rates:
        _out(f"no gate decisions: no tracker kept any in {view.path / 'logs' / 'gate'}; no acceptance plot")
        return
    path = out / "acceptance.png"
    plot_workspace_acceptance(rates, path, write_bytes, f"gate acceptance per sequence ({view.path.name})")
    _out(f"acceptance: {path}")
