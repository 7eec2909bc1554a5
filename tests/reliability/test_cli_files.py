"""The CLI never destroys its input, leaves no debris when stopped, and names bad files (issue 12).

Table-driven: every case runs the real ``vots-tracker`` CLI in a subprocess with a hard
timeout and checks the exit status, the one-line error (by content) or the warning, and
that every input file is unchanged (sha256 before and after). Commands that get as far
as tracking use random-init DeAOT-T weights (``smoke_weights``): meaningless masks, real
pipeline, and slow enough on CPU to be stopped half-way.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import cv2
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240  # seconds per command: nothing here may hang
H, W = 64, 96  # landscape frames


# --------------------------------------------------------------------------- inputs


def _palette_png(path: Path, labels: np.ndarray) -> None:
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9))
    image.save(path)


def make_inputs(base: Path, frames: int = 4) -> Dict[str, Path]:
    """base/clip/frames/0000N.jpg, base/clip/masks/00000.png (one object), base/first.png, base/DAVIS."""
    clip = base / "clip"
    (clip / "frames").mkdir(parents=True)
    (clip / "masks").mkdir()
    rng = np.random.default_rng(0)
    for t in range(frames):
        image = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), (5, 5), 2)
        image[20:40, 10 + 4 * t : 40 + 4 * t] = (30, 200, 60)
        cv2.imwrite(str(clip / "frames" / f"{t:05d}.jpg"), image)
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[20:40, 10:40] = 1
    _palette_png(clip / "masks" / "00000.png", labels)
    _palette_png(base / "first.png", labels)
    davis = base / "DAVIS"
    for sub in ("JPEGImages/480p/seq", "Annotations/480p/seq"):
        (davis / sub).mkdir(parents=True)
    for t in range(3):
        cv2.imwrite(str(davis / "JPEGImages/480p/seq" / f"{t:05d}.jpg"), np.full((H, W, 3), 90, np.uint8))
    _palette_png(davis / "Annotations/480p/seq/00000.png", labels)
    return {"clip": clip, "frames": clip / "frames", "masks": clip / "masks", "first": base / "first.png",
            "davis": davis}


def tree_hashes(*roots: Path) -> Dict[str, str]:
    hashes = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file():
                hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def hidden_debris(*folders: Path) -> List[str]:
    return sorted(str(p) for folder in folders if folder.is_dir() for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- running the CLI


@dataclass
class Run:
    code: int
    out: str
    err: str

    def error_line(self) -> str:
        assert "Traceback" not in self.err, self.err
        errors = [line for line in self.err.splitlines() if line.startswith("vots-tracker: error:")]
        assert len(errors) == 1, self.err
        return errors[0]


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def vots_tracker(*args) -> Run:
    proc = subprocess.run([sys.executable, "-m", "vots_tracker", *map(str, args)], cwd=str(ROOT), env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def track_args(frames, masks, out, weights: Path, *extra) -> list:
    return ["track", "--frames", frames, "--masks", masks, "--out", out, "--preset", "dmaot_smoke",
            "--weights-dir", weights, "--threads", "1", "--no-progress", *extra]


# --------------------------------------------------------------------------- refused outputs (no model runs)


@dataclass
class Case:
    """``args(paths, tmp)`` builds the command line; ``setup`` prepares extra files; ``fragments`` must all be
    in the one error line (or, with ``code == 0``, in stderr); ``kept`` files must still exist afterwards."""

    name: str
    args: Callable[[Dict[str, Path], Path], list]
    fragments: List[str]
    code: int = 2
    setup: Optional[Callable[[Dict[str, Path], Path], None]] = None
    kept: Callable[[Dict[str, Path], Path], List[Path]] = field(default=lambda p, tmp: [])


def _notes_in_out(paths, tmp):
    (tmp / "out").mkdir()
    (tmp / "out" / "00000.png").write_bytes(b"an earlier result")
    (tmp / "out" / "notes.txt").write_text("mine")


def _frame_folder(paths, tmp):
    (paths["frames"] / "00002.jpg").unlink()
    (paths["frames"] / "00002.jpg").mkdir()


def _foreign_sequences(paths, tmp):
    ws = tmp / "ws"
    (ws / "sequences" / "my-seq").mkdir(parents=True)
    (ws / "sequences" / "my-seq" / "sequence").write_text("name=my-seq\n")
    (ws / "sequences" / "list.txt").write_text("my-seq\n")
    (ws / "results" / "t" / "baseline" / "my-seq").mkdir(parents=True)
    (ws / "results" / "t" / "baseline" / "my-seq" / "my-seq_001.txt").write_text("1\n")
    (ws / "config.yaml").write_text("stack: vots2024/main\n")


def _ws_inputs(paths, tmp):
    return [tmp / "ws" / "sequences" / "my-seq" / "sequence", tmp / "ws" / "results" / "t" / "baseline" / "my-seq"]


REFUSED = [
    Case("track-out-is-frames", lambda p, t: track_args(p["frames"], p["masks"], p["frames"], t / "w"),
         ["--out", "is the input --frames"]),
    Case("track-out-is-frames-force", lambda p, t: track_args(p["frames"], p["masks"], p["frames"], t / "w", "--force"),
         ["--out", "is the input --frames"]),
    Case("track-out-inside-frames", lambda p, t: track_args(p["frames"], p["masks"], p["frames"] / "out", t / "w"),
         ["lies inside the input --frames"]),
    Case("track-out-inside-frames-force",
         lambda p, t: track_args(p["frames"], p["masks"], p["frames"] / "out", t / "w", "--force"),
         ["lies inside the input --frames"]),
    Case("track-out-contains-masks", lambda p, t: track_args(p["frames"], p["masks"], p["clip"], t / "w"),
         ["contains the input"]),
    Case("track-out-contains-masks-force",
         lambda p, t: track_args(p["frames"], p["masks"], p["clip"], t / "w", "--force"),
         ["contains the input"]),
    Case("track-out-contains-inputs-force", lambda p, t: track_args(p["frames"], p["first"], t, t / "w", "--force"),
         ["contains the input --frames"]),
    Case("track-overlay-video-is-input",
         lambda p, t: track_args(p["frames"], p["masks"], t / "out", t / "w", "--force", "--overlay-video",
                                 p["frames"] / "x.mp4"),
         ["--overlay-video", "input --frames"]),
    Case("track-unrelated-file-in-out-force", lambda p, t: track_args(p["frames"], p["masks"], t / "out", t / "w",
                                                                      "--force"),
         ["does not write", "notes.txt"], setup=_notes_in_out,
         kept=lambda p, t: [t / "out" / "notes.txt", t / "out" / "00000.png"]),
    Case("convert-frames-out-inside-frames", lambda p, t: ["convert", "frames", p["frames"], p["masks"],
                                                           p["frames"] / "vot", "--force"],
         ["OUT", "lies inside the input FRAMES"]),
    Case("convert-frames-out-contains-masks", lambda p, t: ["convert", "frames", p["frames"], p["masks"], p["clip"]],
         ["OUT", "contains the input FRAMES"]),
    Case("convert-davis-out-inside-root", lambda p, t: ["convert", "davis", p["davis"], p["davis"] / "vot", "--force"],
         ["OUT", "lies inside the input ROOT"]),
    Case("workspace-synthetic-force-keeps-sequences",
         lambda p, t: ["workspace", "init", t / "ws", "--force", "--synthetic", "1", "--frames", "2", "--size",
                       "64x64", "--objects", "1", "--weights-dir", t / "w"],
         ["did not write", "my-seq/", "never deletes sequences"], setup=_foreign_sequences, kept=_ws_inputs),
    Case("workspace-force-keeps-sequences-and-results",
         lambda p, t: ["workspace", "init", t / "ws", "--force"], [], code=0, setup=_foreign_sequences,
         kept=_ws_inputs),
    Case("frame-is-a-folder", lambda p, t: track_args(p["frames"], p["masks"], t / "out", t / "w"),
         ["00002.jpg is a folder, not a file"], setup=_frame_folder),
    Case("video-is-a-folder", lambda p, t: ["track", "--video", p["frames"], "--masks", p["first"], "--out", t / "out"],
         ["video file", "is a folder, not a file"]),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_refused_outputs_and_bad_files(tmp_path, case):
    paths = make_inputs(tmp_path / "in")
    if case.setup:
        case.setup(paths, tmp_path)
    kept = case.kept(paths, tmp_path)
    before = tree_hashes(tmp_path / "in", *kept)
    run = vots_tracker(*case.args(paths, tmp_path))
    assert run.code == case.code, run.err
    if case.code:
        line = run.error_line()
        for fragment in case.fragments:
            assert fragment in line, line
    assert tree_hashes(tmp_path / "in", *kept) == before
    assert not hidden_debris(tmp_path, tmp_path / "in", paths["clip"], paths["frames"])


# --------------------------------------------------------------------------- warnings (convert: no model runs)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def test_convert_warns_about_truncated_jpeg_and_portrait_mask(tmp_path):
    paths = make_inputs(tmp_path / "in")
    _truncate(paths["frames"] / "00001.jpg")
    portrait = np.zeros((W, H), dtype=np.uint8)  # 64 wide, 96 high: the frames are 96x64
    portrait[10:50, 10:40] = 1
    _palette_png(paths["first"], portrait)
    before = tree_hashes(tmp_path / "in")
    run = vots_tracker("convert", "frames", paths["frames"], paths["first"], tmp_path / "vot", "--name", "clip")
    assert run.code == 0, run.err
    warnings = [line for line in run.err.splitlines() if "WARNING" in line]
    assert any("00001.jpg" in w and "truncated JPEG" in w for w in warnings), run.err
    assert any("portrait" in w and "landscape" in w and "aspect ratios differ" in w for w in warnings), run.err
    assert tree_hashes(tmp_path / "in") == before
    repaired = cv2.imread(str(tmp_path / "vot" / "clip" / "color" / "00000002.jpg"))  # re-encoded, readable
    assert repaired is not None and repaired.shape == (H, W, 3)


# --------------------------------------------------------------------------- tracking runs (random weights)


def test_track_force_replaces_earlier_output_and_warns(tmp_path, smoke_weights):
    """A second run with --force replaces the first run's output; a truncated frame and a portrait mask warn."""
    paths = make_inputs(tmp_path / "in")
    _truncate(paths["frames"] / "00001.jpg")
    portrait = np.zeros((W, H), dtype=np.uint8)
    portrait[10:50, 10:40] = 1
    _palette_png(paths["masks"] / "00000.png", portrait)
    out = tmp_path / "out"
    out.mkdir()
    (out / "00003.png").write_bytes(b"an earlier result")
    (out / "overlay").mkdir()
    before = tree_hashes(tmp_path / "in")
    run = vots_tracker(*track_args(paths["frames"], paths["masks"], out, smoke_weights, "--force", "--overlay-frames"))
    assert run.code == 0, run.err
    assert any("00001.jpg" in line and "truncated JPEG" in line for line in run.err.splitlines()), run.err
    assert any("aspect ratios differ" in line and "portrait" in line for line in run.err.splitlines()), run.err
    assert sorted(p.name for p in out.glob("*.png")) == [f"{t:05d}.png" for t in range(4)]
    assert (out / "00003.png").read_bytes() != b"an earlier result"
    assert tree_hashes(tmp_path / "in") == before
    assert not hidden_debris(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stopped_track_leaves_no_output(tmp_path, smoke_weights, signum):
    """Stopped while frames are being written: no OUT, no hidden staging folder, 128 + signal number."""
    paths = make_inputs(tmp_path / "in", frames=60)
    out = tmp_path / "out"
    before = tree_hashes(tmp_path / "in")
    proc = subprocess.Popen([sys.executable, "-m", "vots_tracker",
                             *map(str, track_args(paths["frames"], paths["masks"], out, smoke_weights))],
                            cwd=str(ROOT), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not [p for d in hidden_debris(tmp_path) for p in Path(d).glob("*.png")]:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err
    assert f"interrupted ({signal.Signals(signum).name})" in err and "Traceback" not in err, err
    assert not out.exists()
    assert not hidden_debris(tmp_path)
    assert tree_hashes(tmp_path / "in") == before
