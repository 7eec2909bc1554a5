"""`convert davis` / `convert frames` write sequences that the VOT toolkit's own loader reads."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tools_helpers import assert_one_line_error, run_subprocess, shared_sequence
from vots_tracker.media.mask_files import read_label_png
from vots_tracker.media.palette import write_palette_png


def _load(root: Path):
    from vot.dataset import load_dataset

    return load_dataset(str(root))


def _starts(sequence):
    from vot.experiment.helpers import MultiObjectHelper

    helper = MultiObjectHelper(sequence)
    return {oid: min(i for i in range(len(sequence)) if oid in helper.new(i)) for oid in helper.all()}


def _mask_array(region, shape):
    """Full-frame boolean array of a vot Mask region."""
    from vot.region.shapes import Mask

    assert isinstance(region, Mask), region
    out = np.zeros(shape, dtype=bool)
    m = region.mask.astype(bool)
    x, y = region.offset
    out[y:y + m.shape[0], x:x + m.shape[1]] = m
    return out


def _is_unknown(region):
    from vot.region import Special

    return isinstance(region, Special) and region.code == 0


def test_convert_davis2016_loads_and_scores(tmp_path, cli):
    root = shared_sequence("davis2016-car-shadow")
    out = tmp_path / "vot"
    res = cli("convert", "davis", root, out)
    assert res.code == 0, res.err
    assert (out / "list.txt").read_text().split() == ["car-shadow"]
    props = dict(l.split("=", 1) for l in (out / "car-shadow" / "sequence").read_text().split("\n") if l)
    assert props["channels.color"] == "color/%08d.jpg"
    dataset = _load(out)
    seq = dataset["car-shadow"]
    assert len(seq) == 40 and list(seq.objects()) == ["1"]
    assert (seq.width, seq.height) == (854, 480)
    frames = sorted((root / "JPEGImages" / "480p" / "car-shadow").glob("*.jpg"))
    assert (out / "car-shadow" / "color" / "00000001.jpg").read_bytes() == frames[0].read_bytes()
    assert (out / "car-shadow" / "color" / "00000040.jpg").read_bytes() == frames[-1].read_bytes()
    for i in (0, 17, 39):
        ann = read_label_png(root / "Annotations" / "480p" / "car-shadow" / f"{i:05d}.png") > 0
        assert np.array_equal(_mask_array(seq.frame(i).object("1"), ann.shape), ann)
    assert seq.frame(5).image().shape == (480, 854, 3)
    # the toolkit's accuracy computation on the ground truth against itself
    from vot.analysis.accuracy import gather_overlaps

    gt = seq.object("1")
    overlaps, _ = gather_overlaps(gt, gt, burnin=0, bounds=(seq.width - 1, seq.height - 1))
    assert len(overlaps) == 40 and np.allclose(overlaps, 1.0)


def _make_davis2017(root: Path, seq: str, frames: int = 6, size=(64, 96)):
    """Palette annotations: objects 1, 2 from frame 0, object 3 from frame 2, object 2 gone from frame 4."""
    h, w = size
    (root / "JPEGImages" / "480p" / seq).mkdir(parents=True)
    (root / "Annotations" / "480p" / seq).mkdir(parents=True)
    labels_all = []
    rng = np.random.default_rng(1)
    for t in range(frames):
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "JPEGImages" / "480p" / seq / f"{t:05d}.jpg"), image)
        labels = np.zeros((h, w), dtype=np.uint8)
        labels[5:20, 5 + t:25 + t] = 1
        if t < 4:
            labels[30:50, 40:60] = 2
        if t >= 2:
            labels[10:25, 60:80] = 3
        labels[0, :] = 255  # void border row
        write_palette_png(root / "Annotations" / "480p" / seq / f"{t:05d}.png", labels)
        labels_all.append(labels)
    return labels_all


def test_convert_davis2017_multiobject(tmp_path, cli):
    root = tmp_path / "DAVIS"
    labels = _make_davis2017(root, "seqA")
    _make_davis2017(root, "seqB")
    out = tmp_path / "vot"
    res = cli("convert", "davis", root, out, "--sequences", "seqA")
    assert res.code == 0, res.err
    seq = _load(out)["seqA"]
    assert sorted(seq.objects()) == ["1", "2", "3"]
    assert _starts(seq) == {"1": 0, "2": 0, "3": 2}
    shape = labels[0].shape
    # before its first appearance: unknown; absent later (annotated frame): empty mask
    assert _is_unknown(seq.frame(0).object("3")) and _is_unknown(seq.frame(1).object("3"))
    assert not _mask_array(seq.frame(4).object("2"), shape).any()
    for t in range(6):
        for oid in (1, 3):
            if oid == 3 and t < 2:
                continue
            assert np.array_equal(_mask_array(seq.frame(t).object(str(oid)), shape), labels[t] == oid)

    # existing sequence: refused without --force, nothing changed
    before = (out / "seqA" / "groundtruth_1.txt").read_text()
    assert_one_line_error(cli("convert", "davis", root, out, "--sequences", "seqA"), "exists", "--force")
    assert (out / "seqA" / "groundtruth_1.txt").read_text() == before
    # another sequence extends list.txt; --force replaces
    assert cli("convert", "davis", root, out, "--sequences", "seqB").code == 0
    assert cli("convert", "davis", root, out, "--sequences", "seqA", "--force").code == 0
    assert (out / "list.txt").read_text().split() == ["seqA", "seqB"]
    assert sorted(_load(out).keys() if hasattr(_load(out), "keys") else [s.name for s in _load(out)]) == ["seqA", "seqB"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_convert_davis_bad_input_leaves_nothing(tmp_path, cli):
    out = tmp_path / "vot"
    assert_one_line_error(cli("convert", "davis", tmp_path / "missing", out), "not a DAVIS folder")
    assert not out.exists()
    root = tmp_path / "DAVIS"
    _make_davis2017(root, "seqA")
    _make_davis2017(root, "seqB")
    assert_one_line_error(cli("convert", "davis", root, out, "--sequences", "nope"), "nope")
    # a corrupt annotation in the second sequence: the first one is removed again, OUT too
    (root / "Annotations" / "480p" / "seqB" / "00003.png").write_bytes(b"not a png")
    assert_one_line_error(cli("convert", "davis", root, out), "00003.png")
    assert not out.exists()
    # in an existing OUT, only what this run created is removed
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert_one_line_error(cli("convert", "davis", root, out), "00003.png")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_convert_davis_subprocess_stderr(tmp_path):
    res = run_subprocess("convert", "davis", tmp_path / "missing", tmp_path / "out")
    assert_one_line_error(res, "not a DAVIS folder")
    assert res.err.strip().count("\n") == 0


def _frames_and_masks(tmp_path: Path, n=6, size=(48, 64), every_frame=True):
    frames = tmp_path / "clip" / "images"
    masks = tmp_path / "clip" / "masks"
    frames.mkdir(parents=True)
    masks.mkdir(parents=True)
    h, w = size
    labels_all = []
    for t in range(n):
        cv2.imwrite(str(frames / f"{t:05d}.png"), np.full((h, w, 3), 40 * t % 255, dtype=np.uint8))
        labels = np.zeros((h, w), dtype=np.uint8)
        labels[4:20, 4 + t:20 + t] = 1
        if t >= 3:
            labels[25:40, 30:50] = 2
        labels_all.append(labels)
        if every_frame:
            write_palette_png(masks / f"{t:05d}.png", labels)
    return frames, masks, labels_all


def test_convert_frames_dense(tmp_path, cli):
    frames, masks, labels = _frames_and_masks(tmp_path)
    out = tmp_path / "vot"
    res = cli("convert", "frames", frames, masks, out)
    assert res.code == 0, res.err
    seq = _load(out)["clip"]  # default name: parent of a generic 'images' folder
    assert len(seq) == 6 and _starts(seq) == {"1": 0, "2": 3}
    assert _is_unknown(seq.frame(2).object("2"))
    for t in range(6):
        assert np.array_equal(_mask_array(seq.frame(t).object("1"), labels[t].shape), labels[t] == 1)
    img = cv2.imread(str(out / "clip" / "color" / "00000004.jpg"))
    assert img.shape == (48, 64, 3)


def test_convert_frames_single_file_and_name(tmp_path, cli):
    frames, masks, labels = _frames_and_masks(tmp_path)
    out = tmp_path / "vot"
    res = cli("convert", "frames", frames, masks / "00000.png", out, "--name", "first_only")
    assert res.code == 0, res.err
    seq = _load(out)["first_only"]
    assert list(seq.objects()) == ["1"]
    assert _mask_array(seq.frame(0).object("1"), labels[0].shape).any()
    assert all(_is_unknown(seq.frame(t).object("1")) for t in range(1, 6))


def test_convert_frames_judo_sparse(tmp_path, cli, caplog):
    root = shared_sequence("judo-objects-appear")
    out = tmp_path / "vot"
    res = cli("convert", "frames", root / "images", root / "masks", out)
    assert res.code == 0, res.err
    assert "853x480" in res.err and "resiz" in res.err  # the 00005.png size quirk is reported
    seq = _load(out)["judo-objects-appear"]
    assert len(seq) == 16
    assert _starts(seq) == {"1": 0, "2": 5, "3": 8, "4": 13}
    # known only where a mask gives the object; everything else unknown
    for oid, start in ((1, 0), (2, 5), (3, 8), (4, 13)):
        for t in range(16):
            region = seq.frame(t).object(str(oid))
            if t == start:
                assert _mask_array(region, (480, 854)).any()
            else:
                assert _is_unknown(region), (oid, t)


def test_convert_frames_bad_input(tmp_path, cli):
    frames, masks, _ = _frames_and_masks(tmp_path)
    out = tmp_path / "vot"
    assert_one_line_error(cli("convert", "frames", tmp_path / "nope", masks, out), "does not exist")
    assert_one_line_error(cli("convert", "frames", frames, tmp_path / "nomasks", out), "does not exist")
    empty = tmp_path / "empty.png"
    write_palette_png(empty, np.zeros((48, 64), dtype=np.uint8))
    assert_one_line_error(cli("convert", "frames", frames, empty, out), "no objects")
    assert_one_line_error(cli("convert", "frames", frames, masks / "00000.png", out, "--annotations", "dense"),
                          "dense")
    assert not out.exists()
