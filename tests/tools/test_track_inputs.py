"""Mask/frame reading for `track` and `convert`, and `track`'s input errors (caught before models load)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tools_helpers import assert_one_line_error, run_subprocess
from vots_tracker.errors import UserError
from vots_tracker.media.frame_source import FrameSource
from vots_tracker.media.mask_files import fit_mask, load_masks, read_label_png
from vots_tracker.media.palette import PALETTE, write_palette_png
from vots_tracker.media.staging import StagedDir


def test_palette_png_roundtrip(tmp_path):
    labels = np.zeros((10, 12), dtype=np.uint8)
    labels[2:5, 3:6] = 1
    labels[6:9, 1:4] = 7
    write_palette_png(tmp_path / "m.png", labels)
    image = Image.open(tmp_path / "m.png")
    assert image.mode == "P"
    assert np.array_equal(np.array(image), labels)
    assert image.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]  # DAVIS colours
    assert np.array_equal(read_label_png(tmp_path / "m.png"), labels)


def test_label_png_modes(tmp_path):
    binary = np.zeros((8, 8), dtype=np.uint8)
    binary[2:4, 2:4] = 255
    Image.fromarray(binary, mode="L").save(tmp_path / "davis2016.png")
    assert set(np.unique(read_label_png(tmp_path / "davis2016.png"))) == {0, 1}
    ids = np.zeros((8, 8), dtype=np.uint8)
    ids[1, 1], ids[2, 2], ids[3, 3] = 2, 5, 255
    Image.fromarray(ids, mode="L").save(tmp_path / "grey.png")
    spec = load_masks(tmp_path / "grey.png", ["a"])
    assert sorted(spec.by_frame[0]) == [2, 5]  # 255 is void
    rgb = PALETTE[ids]
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "rgb.png")
    assert np.array_equal(read_label_png(tmp_path / "rgb.png"), ids)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "rgb_bad.png")
    with pytest.raises(UserError, match="outside the DAVIS palette"):
        read_label_png(tmp_path / "rgb_bad.png")
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(UserError, match="junk.png"):
        read_label_png(tmp_path / "junk.png")


def test_mask_layouts(tmp_path):
    stems = ["00000", "00001", "00002", "00003"]
    objects = tmp_path / "objects"
    objects.mkdir()
    for name, box in (("3.png", (0, 2)), ("10.png", (4, 6))):
        m = np.zeros((8, 8), dtype=np.uint8)
        m[box[0]:box[1], :] = 255
        Image.fromarray(m, mode="L").save(objects / name)
    spec = load_masks(objects, stems)
    assert spec.layout == "objects" and sorted(spec.by_frame[0]) == [3, 10]
    named = tmp_path / "named"
    named.mkdir()
    for name in ("person.png", "ball.png"):
        Image.fromarray(np.full((8, 8), 255, dtype=np.uint8), mode="L").save(named / name)
    spec = load_masks(named, stems)
    assert list(spec.by_frame[0]) == [1, 2]  # sorted order: ball=1, person=2
    per_frame = tmp_path / "frames"
    per_frame.mkdir()
    for stem, oid in (("00000", 1), ("00002", 4)):
        labels = np.zeros((8, 8), dtype=np.uint8)
        labels[oid, :] = oid
        write_palette_png(per_frame / f"{stem}.png", labels)
    spec = load_masks(per_frame, stems)
    assert spec.layout == "frames" and {f: list(o) for f, o in spec.by_frame.items()} == {0: [1], 2: [4]}
    assert spec.object_ids == [1, 4]
    # numeric names matched by number only when the layout is forced
    numeric = tmp_path / "numeric"
    numeric.mkdir()
    write_palette_png(numeric / "2.png", np.ones((8, 8), dtype=np.uint8))
    assert load_masks(numeric, stems).layout == "objects"
    assert list(load_masks(numeric, stems, layout="frames").by_frame) == [2]
    # a single file named like a frame starts there
    assert list(load_masks(per_frame / "00002.png", stems).by_frame) == [2]
    big = tmp_path / "big"
    big.mkdir()
    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8), mode="L").save(big / "300.png")
    with pytest.raises(UserError, match="out of range"):
        load_masks(big, stems)


def test_fit_mask_warns(caplog):
    mask = np.zeros((480, 853), dtype=bool)
    mask[:, -1] = True
    with caplog.at_level(logging.WARNING):
        fitted = fit_mask(mask, (480, 854, 3), "mask 00005.png")
    assert fitted.shape == (480, 854) and fitted.dtype == bool
    assert any("853x480" in r.getMessage() and "854x480" in r.getMessage() for r in caplog.records)


def test_staged_dir_rolls_back(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with StagedDir(final) as tmp:
            (tmp / "a.png").write_bytes(b"x")
            raise RuntimeError("boom")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with StagedDir(final) as tmp:
        (tmp / "a.png").write_bytes(b"x")
    assert (final / "a.png").exists()
    with pytest.raises(UserError, match="not empty"):
        StagedDir(final).check()


def test_frame_source_video(tmp_path):
    path = tmp_path / "v.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for t in range(5):
        writer.write(np.full((48, 64, 3), 30 * t, dtype=np.uint8))
    writer.release()
    source = FrameSource(video=path)
    frames = list(source)
    assert [s for _, s, _ in frames] == ["00000", "00001", "00002", "00003", "00004"]
    assert frames[0][2].shape == (48, 64, 3) and source.fps == pytest.approx(10.0)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(UserError, match="cannot read video"):
        FrameSource(video=bad)


def _clip(tmp_path: Path, n=4):
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(n):
        cv2.imwrite(str(frames / f"{t:05d}.jpg"), np.full((48, 64, 3), 60, dtype=np.uint8))
    labels = np.zeros((48, 64), dtype=np.uint8)
    labels[10:20, 10:20] = 1
    write_palette_png(tmp_path / "first.png", labels)
    return frames, tmp_path / "first.png"


@pytest.mark.parametrize("case", ["no-frames", "bad-video", "missing-masks", "no-objects", "unknown-preset",
                                  "out-not-empty", "bad-tau", "bad-overlay-name",
                                  "frame-beyond-input"])
def test_track_bad_input(tmp_path, cli, case):
    frames, first = _clip(tmp_path)
    out = tmp_path / "out"
    args = ["track", "--frames", frames, "--masks", first, "--out", out, "--preset", "dmaot_smoke",
            "--weights-dir", tmp_path / "weights"]
    expect = []
    if case == "no-frames":
        args[2] = tmp_path / "nope"
        expect = ["does not exist"]
    elif case == "bad-video":
        (tmp_path / "bad.mp4").write_bytes(b"garbage")
        args[1:3] = ["--video", tmp_path / "bad.mp4"]
        expect = ["cannot read video"]
    elif case == "missing-masks":
        args[4] = tmp_path / "none.png"
        expect = ["none.png"]
    elif case == "no-objects":
        write_palette_png(first, np.zeros((48, 64), dtype=np.uint8))
        expect = ["no objects"]
    elif case == "unknown-preset":
        args[8] = "no_such_preset"
        expect = ["no_such_preset"]
    elif case == "out-not-empty":
        out.mkdir()
        (out / "x.txt").write_text("keep")
        expect = ["not empty"]
    elif case == "bad-tau":
        args += ["--tau", "3"]
        expect = ["tau"]
    elif case == "bad-overlay-name":
        args += ["--overlay-video", tmp_path / "o.avi"]
        expect = [".mp4"]
    elif case == "frame-beyond-input":
        masks = tmp_path / "masks"
        masks.mkdir()
        write_palette_png(masks / "00009.png", np.ones((48, 64), dtype=np.uint8))
        args[4] = masks
        args += ["--masks-layout", "frames"]
        expect = ["no objects"]
    res = cli(*args)
    assert_one_line_error(res, *expect)
    if case == "out-not-empty":
        assert sorted(p.name for p in out.iterdir()) == ["x.txt"]
    else:
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_track_bad_input_subprocess(tmp_path):
    res = run_subprocess("track", "--frames", tmp_path / "nope", "--masks", tmp_path / "m.png", "--out",
                         tmp_path / "out")
    assert_one_line_error(res, "does not exist")
    assert len([l for l in res.err.splitlines() if l.strip()]) == 1, res.err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- plumbing with a stand-in session


class _FakeSession:
    """Follows the session contract: first call needs objects, masks must match the frame, arrival order."""

    def __init__(self, calls):
        self.masks = {}
        self.calls = calls

    def step(self, frame, new_objects=None):
        new_objects = dict(new_objects or {})
        if not self.masks and not new_objects:
            raise ValueError("the first call must have new objects")
        for oid, mask in new_objects.items():
            if mask.shape != frame.shape[:2]:
                raise ValueError("mask size differs from the frame")
            self.masks[oid] = mask.astype(bool)
        self.calls.append((frame.shape, sorted(new_objects)))
        return {oid: m.copy() for oid, m in self.masks.items()}

    def keep_decisions(self, path, tracker, sequence):  # a session without refinement writes no decisions
        pass

    def close(self):
        pass


class _FakeTracker:
    calls: list = []

    @classmethod
    def from_config(cls, config):
        cls.calls = []
        return cls()

    def new_session(self):
        return _FakeSession(self.calls)


@pytest.fixture
def fake_tracker(monkeypatch):
    import vots_tracker.server.session as session

    monkeypatch.setattr(session, "Tracker", _FakeTracker)
    return _FakeTracker


def test_track_plumbing_objects_appear_late(tmp_path, cli, fake_tracker):
    frames = tmp_path / "frames"
    frames.mkdir()
    masks = tmp_path / "masks"
    masks.mkdir()
    for t in range(6):
        cv2.imwrite(str(frames / f"f{t:03d}.jpg"), np.full((40, 60, 3), 20 * t, dtype=np.uint8))
    a = np.zeros((40, 60), dtype=np.uint8)
    a[5:15, 5:15] = 3
    write_palette_png(masks / "f001.png", a)  # nothing before frame 1
    b = np.zeros((40, 59), dtype=np.uint8)  # one column short: resized with a warning
    b[20:30, 30:40] = 7
    b[5:15, 5:15] = 3  # id 3 again: ignored (already tracked)
    write_palette_png(masks / "f004.png", b)
    out = tmp_path / "out"
    video = tmp_path / "videos" / "overlay.mp4"
    res = cli("track", "--frames", frames, "--masks", masks, "--out", out, "--overlay-video", video,
              "--overlay-frames", "--preset", "dmaot_smoke")
    assert res.code == 0, res.err
    assert "59x40" in res.err and "60x40" in res.err
    assert fake_tracker.calls == [((40, 60, 3), [3]), ((40, 60, 3), []), ((40, 60, 3), []),
                                  ((40, 60, 3), [7]), ((40, 60, 3), [])]
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [f"f{t:03d}.png" for t in range(6)]
    assert set(np.unique(read_label_png(out / "f000.png"))) == {0}
    assert set(np.unique(read_label_png(out / "f002.png"))) == {0, 3}
    assert set(np.unique(read_label_png(out / "f005.png"))) == {0, 3, 7}
    assert sorted(p.name for p in (out / "overlay").iterdir()) == [f"f{t:03d}.png" for t in range(6)]
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, frame = cap.read()
    assert ok and frame.shape == (40, 60, 3)
    cap.release()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not [p for p in video.parent.iterdir() if p.name.startswith(".")]


def test_track_plumbing_video_and_failure_cleanup(tmp_path, cli, fake_tracker, monkeypatch):
    video = tmp_path / "in.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (64, 48))
    for t in range(5):
        writer.write(np.full((48, 64, 3), 40 * t, dtype=np.uint8))
    writer.release()
    objects = tmp_path / "objects"
    objects.mkdir()
    m = np.zeros((48, 64), dtype=np.uint8)
    m[10:20, 10:30] = 255
    Image.fromarray(m, mode="L").save(objects / "5.png")
    out = tmp_path / "out"
    res = cli("track", "--video", video, "--masks", objects, "--out", out, "--overlay-video", out / "ov.mp4",
              "--preset", "dmaot_smoke")
    assert res.code == 0, res.err
    assert sorted(p.name for p in out.iterdir()) == ["00000.png", "00001.png", "00002.png", "00003.png",
                                                     "00004.png", "ov.mp4"]
    assert set(np.unique(read_label_png(out / "00003.png"))) == {0, 5}
    cap = cv2.VideoCapture(str(out / "ov.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    cap.release()

    # a failure in the middle of tracking leaves nothing behind
    def boom(self, frame, new_objects=None):
        if len(self.calls) >= 2:
            raise UserError("simulated failure")
        self.calls.append(None)
        return {5: np.zeros(frame.shape[:2], dtype=bool)}

    monkeypatch.setattr(_FakeSession, "step", boom)
    out2 = tmp_path / "out2"
    res = cli("track", "--video", video, "--masks", objects, "--out", out2, "--overlay-video",
              tmp_path / "ov2.mp4", "--preset", "dmaot_smoke")
    assert_one_line_error(res, "simulated failure")
    assert not out2.exists() and not (tmp_path / "ov2.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
