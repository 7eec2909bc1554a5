"""`vots-tracker track` end to end with the real tracker (DMAOT, HQ-SAM) on RANDOM-init weights.

These need the session, DMAOT and HQ-SAM modules; random weights make the masks meaningless,
so the checks are about plumbing: one palette PNG per frame of the right size, the right
object ids appearing on the right frames, a playable MP4.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tools_helpers import assert_one_line_error, shared_sequence
from vots_tracker.media.mask_files import read_label_png
from vots_tracker.media.palette import write_palette_png

H, W, N = 160, 240, 6


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    """`weights init-random DIR deaott` through the CLI (the real DMAOT writer)."""
    from vots_tracker.cli import main

    folder = tmp_path_factory.mktemp("random-weights")
    assert main(["weights", "init-random", str(folder), "deaott"]) == 0
    return folder


@pytest.fixture(scope="module")
def random_weights_sam(random_weights) -> Path:
    """The same folder plus `weights init-random DIR vit_tiny` (the real HQ-SAM writer; manifest merged)."""
    from vots_tracker.cli import main

    assert main(["weights", "init-random", str(random_weights), "vit_tiny"]) == 0
    return random_weights


def test_init_random_real_writers(random_weights_sam, cli):
    random_weights = random_weights_sam
    manifest = json.loads((random_weights / "RANDOM_WEIGHTS.json").read_text())
    assert set(manifest["files"]) == {"DeAOTT_PRE_YTB_DAV.pth", "sam_hq_vit_tiny.pth"}
    res = cli("weights", "verify", "--deep", "--weights-dir", random_weights)
    assert res.code == 0, res.out + res.err
    assert res.out.count("RANDOM") == 2


def _synthetic_clip(root: Path):
    """6 frames 160x240, object 1 from frame 0, object 2 from frame 3; masks named like the frames."""
    frames = root / "frames"
    masks = root / "masks"
    frames.mkdir(parents=True)
    masks.mkdir()
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), (9, 9), 3)
    for t in range(N):
        frame = background.copy()
        labels = np.zeros((H, W), dtype=np.uint8)
        labels[30:70, 20 + 6 * t:70 + 6 * t] = 1
        if t >= 3:
            labels[90:140, 150 - 4 * t:200 - 4 * t] = 2
        frame[labels == 1] = (220, 40, 40)
        frame[labels == 2] = (40, 200, 60)
        cv2.imwrite(str(frames / f"{t:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if t == 0:
            write_palette_png(masks / "00000.png", np.where(labels == 1, 1, 0).astype(np.uint8))
        if t == 3:
            write_palette_png(masks / "00003.png", np.where(labels == 2, 2, 0).astype(np.uint8))
    return frames, masks


def _check_video(path: Path, frames: int, size):
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    count = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert (frame.shape[1], frame.shape[0]) == size
        count += 1
    cap.release()
    assert count == frames


@pytest.mark.parametrize("preset", ["dmaot_smoke", "hqsam_gate_smoke"])
def test_track_synthetic(tmp_path, cli, request, preset):
    random_weights = request.getfixturevalue("random_weights_sam" if preset == "hqsam_gate_smoke" else "random_weights")
    frames, masks = _synthetic_clip(tmp_path)
    out = tmp_path / "out"
    video = tmp_path / "overlay.mp4"
    res = cli("track", "--frames", frames, "--masks", masks, "--out", out, "--overlay-video", video,
              "--overlay-frames", "--preset", preset, "--weights-dir", random_weights)
    assert res.code == 0, res.err
    assert "RANDOM" in res.err  # random weights are announced
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [f"{t:05d}" for t in range(N)]
    for t, png in enumerate(pngs):
        labels = read_label_png(png)
        assert labels.shape == (H, W)
        ids = set(np.unique(labels).tolist()) - {0}
        assert ids <= ({1} if t < 3 else {1, 2}), (t, ids)
    assert 1 in read_label_png(out / "00000.png")
    assert 2 in read_label_png(out / "00003.png")
    assert len(list((out / "overlay").glob("*.png"))) == N
    _check_video(video, N, (W, H))


def test_track_judo_objects_appear(tmp_path, cli, random_weights):
    root = shared_sequence("judo-objects-appear")
    out = tmp_path / "out"
    video = tmp_path / "judo.mp4"
    res = cli("track", "--frames", root / "images", "--masks", root / "masks", "--out", out,
              "--overlay-video", video, "--preset", "dmaot_smoke", "--weights-dir", random_weights)
    assert res.code == 0, res.err
    assert "853x480" in res.err  # masks/00005.png is one column narrower than the frames
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 16
    first = {1: 0, 2: 5, 3: 8, 4: 13}
    for t, png in enumerate(pngs):
        labels = read_label_png(png)
        assert labels.shape == (480, 854)
        ids = set(np.unique(labels).tolist()) - {0}
        assert ids <= {oid for oid, start in first.items() if start <= t}, (t, ids)
    for oid, start in first.items():
        assert oid in read_label_png(pngs[start]), (oid, start)
    _check_video(video, 16, (854, 480))


def test_track_missing_checkpoint_is_one_line(tmp_path, cli):
    frames, masks = _synthetic_clip(tmp_path)
    out = tmp_path / "out"
    res = cli("track", "--frames", frames, "--masks", masks, "--out", out, "--preset", "dmaot_smoke",
              "--weights-dir", tmp_path / "empty-weights")
    assert_one_line_error(res, "DeAOTT_PRE_YTB_DAV.pth", "1ThWIZQS03cYWx1EKNN8MIMnJS5eRowzr",
                          str(tmp_path / "empty-weights" / "DeAOTT_PRE_YTB_DAV.pth"))
    assert not out.exists()


def test_registry_models_are_buildable():
    """Every registry entry's model name is one the DMAOT code builds / an HQ-SAM size the refiner knows."""
    from vots_tracker import dmaot
    from vots_tracker.refine.sam_specs import SIZES
    from vots_tracker.weights.registry import ENTRIES

    for entry in ENTRIES:
        if entry.kind == "dmaot":
            assert entry.model in dmaot.MODEL_NAMES, entry
        else:
            assert entry.model in SIZES, entry
