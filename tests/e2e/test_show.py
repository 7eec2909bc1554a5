"""Gate decision files from `vot evaluate`, and `vots-tracker show` on them (the shared smoke workspace).

The smoke cycle (conftest.py `smoke_cycle`: 2 synthetic sequences x 6 frames, 320x240, 3 objects,
one arriving late) has evaluated dmaot_smoke, hqsam_gate_smoke and hqsam_gate_smoke_cycle_redetect
through their TraX processes. Stored masks are read back with the toolkit's own reader.
"""

import contextlib
import io
import re
import shutil
import types

import cv2
import numpy as np
import pytest

from vots_tracker.cli import main
from vots_tracker.server.decision_log import decision_file, mask_digest, read_decisions
from vots_tracker.viewer.render import DISAGREE_RGB, GAP
from vots_tracker.viewer.sources import WorkspaceView, digest_mismatches

# The session fixture `smoke_cycle` is built once per xdist worker: keep its users on one worker.
pytestmark = pytest.mark.xdist_group("smoke_cycle")

GATED = ("hqsam_gate_smoke", "hqsam_gate_smoke_cycle_redetect")
W, H, FRAMES = 320, 240, 6
MAGENTA_BGR = DISAGREE_RGB[::-1]
TEXT_ROWS = 30  # titles (top) and frame labels (bottom) are drawn over the pictures


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return types.SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


@pytest.fixture(scope="module")
def workspace(smoke_cycle):
    assert smoke_cycle.rc == 0, smoke_cycle.out
    return smoke_cycle.workspace


@pytest.fixture(scope="module")
def view(workspace):
    return WorkspaceView(workspace)


@pytest.fixture(scope="module")
def shown(workspace, tmp_path_factory):
    out = tmp_path_factory.mktemp("show")
    result = _run("show", "--workspace", workspace, "--tracker", "hqsam_gate_smoke", "--versus", "dmaot_smoke",
                  "--out", out, "--sheet", 5, "--columns", 3, "--no-progress")
    assert result.code == 0, result.out + result.err
    return types.SimpleNamespace(out=out, stdout=result.out)


def _stored(view, tracker, sequence):
    return view.stored(view.tracker(tracker), sequence)


@pytest.mark.slow
def test_decision_files_hold_one_record_per_object_and_frame_matching_the_stored_masks(workspace, view):
    from vot.experiment.helpers import MultiObjectHelper

    assert not decision_file(workspace, "dmaot_smoke", "x").parent.exists()  # no gate, no decisions
    accepted_differs = 0
    for sequence in view.sequences():
        helper = MultiObjectHelper(sequence)
        baseline = _stored(view, "dmaot_smoke", sequence)
        for tracker in GATED:
            decisions = read_decisions(decision_file(workspace, tracker, sequence.name))
            assert decisions.torn is None and decisions.header["tracker"] == tracker
            assert sorted(decisions.frames) == list(range(len(sequence)))
            for index, record in decisions.frames.items():  # every object that has arrived, in arrival order
                assert record["ids"] == list(range(1, len(helper.objects(index)) + 1))
                assert all(len(record[c]) == len(record["ids"]) for c in ("iou", "accepted", "present", "crc"))
            stored = _stored(view, tracker, sequence)
            assert digest_mismatches(stored, decisions) == []  # every stored mask is the one the file names
            if tracker != "hqsam_gate_smoke":
                continue
            for index in range(1, len(sequence)):  # DMAOT's own masks are dmaot_smoke's (no cycle prior)
                ours, theirs, record = stored.by_arrival(index), baseline.by_arrival(index), decisions.frames[index]
                for n, arrival in enumerate(record["ids"]):
                    same = np.array_equal(ours[arrival], theirs[arrival])
                    if record["accepted"][n]:  # the refinement replaced DMAOT's mask, and was stored
                        accepted_differs += not same
                        assert mask_digest(ours[arrival]) == record["crc"][n]
                    else:
                        assert same, (sequence.name, index, arrival)
    assert accepted_differs > 0  # the gate accepted something, so the two trackers differ


@pytest.mark.slow
def test_side_by_side_video_has_every_frame_at_the_expected_size(shown):
    for sequence in ("synthetic-01", "synthetic-02"):
        assert f"video: {shown.out / (sequence + '.mp4')}" in shown.stdout
        capture = cv2.VideoCapture(str(shown.out / f"{sequence}.mp4"))
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
        assert len(frames) == FRAMES and frames[0].shape == (H, 2 * W + GAP, 3)
    assert not list(shown.out.glob(".*"))  # no temporary file left behind


def _diff(view, sequence, index):
    shape = (H, W)
    labels = []
    for tracker in ("hqsam_gate_smoke", "dmaot_smoke"):
        masks = _stored(view, tracker, sequence).frame(index)
        label = np.zeros(shape, np.int32)
        for object_id, mask in masks.items():
            label[mask] = object_id
        labels.append(label)
    return labels[0] != labels[1], labels[0] > 0


@pytest.mark.slow
def test_contact_sheet_grid_marks_the_pixels_where_the_trackers_differ(shown, view):
    sheet = cv2.imread(str(shown.out / "synthetic-01_sheet.png"))
    tile_w, tile_h = 2 * W + GAP, H
    assert sheet.shape[:2] == (2 * tile_h + 3 * GAP, 3 * tile_w + 4 * GAP)  # 5 frames: 2 rows x 3 columns
    sequence = view.sequences(["synthetic-01"])[0]
    marked_somewhere = 0
    for n, index in enumerate([0, 1, 2, 4, 5]):  # evenly spaced over 6 frames, first and last included
        row, column = divmod(n, 3)
        y, x = GAP + row * (tile_h + GAP), GAP + column * (tile_w + GAP)
        tile = sheet[y:y + tile_h, x:x + tile_w]
        differ, covered = _diff(view, sequence, index)
        differ[:TEXT_ROWS], differ[-TEXT_ROWS:] = False, False
        for left in (0, W + GAP):  # both panels
            panel = tile[:, left:left + W]
            magenta = np.all(panel == MAGENTA_BGR, axis=2)
            assert magenta[differ].all(), (index, left)
            assert not (magenta & covered & ~differ)[TEXT_ROWS:-TEXT_ROWS].any()
            marked_somewhere += int(differ.sum())
        assert (tile[:, W:W + GAP] == (40, 40, 40)).all()  # the bar between the panels
    assert marked_somewhere > 0


@pytest.mark.slow
def test_video_frames_mark_the_disagreement(shown, view):
    """MP4 is lossy (the random-weight disagreement is a fine pattern that it blurs), so the check is
    statistical: where the trackers differ the video is magenta (R + B - 2G high), elsewhere it is not."""
    sequence = view.sequences(["synthetic-01"])[0]
    capture = cv2.VideoCapture(str(shown.out / "synthetic-01.mp4"))
    checked = 0
    for index in range(FRAMES):
        ok, frame = capture.read()
        assert ok
        differ, _ = _diff(view, sequence, index)
        differ[:TEXT_ROWS], differ[-TEXT_ROWS:] = False, False
        if differ.sum() < 50:
            continue
        for left in (0, W + GAP):
            blue, green, red = (frame[:, left:left + W, c].astype(int) for c in range(3))
            magenta = red + blue - 2 * green  # 510 for pure magenta, about 0 for grey
            assert magenta[differ].mean() > 150 and magenta[differ].mean() > magenta[~differ].mean() + 100, index
        checked += 1
    capture.release()
    assert checked > 0


@pytest.mark.slow
def test_gate_plots_and_acceptance_plot(shown):
    import matplotlib.image

    for sequence in ("synthetic-01", "synthetic-02"):
        png = shown.out / f"{sequence}_gate_hqsam_gate_smoke.png"
        assert f"gate: {png}" in shown.stdout
        assert matplotlib.image.imread(str(png)).shape[:2] == (610, 1100)  # 3 object rows
    assert not list(shown.out.glob("*_gate_dmaot_smoke.png"))
    assert "no gate decisions: dmaot_smoke kept none" in shown.stdout
    acceptance = shown.out / "acceptance.png"
    assert f"acceptance: {acceptance}" in shown.stdout and acceptance.stat().st_size > 0


@pytest.mark.slow
def test_missing_results_and_torn_decisions_get_one_line_each(workspace, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns("weights", "cache", "*.zip", "report*"))
    experiment = next((copy / "results" / "dmaot_smoke").iterdir())
    shutil.rmtree(experiment / "synthetic-02")
    torn = decision_file(copy, "hqsam_gate_smoke", "synthetic-01")
    with open(torn, "a") as handle:
        handle.write('{"frame":6,"ids":[1,')
    out = tmp_path / "out"
    result = _run("show", "--workspace", copy, "--tracker", "hqsam_gate_smoke", "--versus", "dmaot_smoke",
                  "--out", out, "--no-video", "--sheet", 2, "--no-progress")
    assert result.code == 0, result.err
    assert result.out.count("no results: dmaot_smoke has none for synthetic-02") == 1
    assert sorted(p.name for p in out.glob("*_sheet.png")) == ["synthetic-01_sheet.png"]
    assert (out / "synthetic-02_gate_hqsam_gate_smoke.png").is_file()  # decisions are drawn without the pair
    assert len(re.findall(r"stopped mid-write", result.err)) == 1

    result = _run("show", "--workspace", copy, "--tracker", "hqsam_gate", "--out", out, "--no-progress")
    assert result.code == 2
    assert "no results: hqsam_gate has none in" in result.out
    assert result.err.strip().splitlines()[-1].startswith("vots-tracker: error: nothing to show")
    result = _run("show", "--workspace", copy, "--tracker", "nope", "--out", out)
    assert result.code == 2 and "vots-tracker: error: tracker 'nope'" in result.err
    result = _run("show", "--workspace", copy, "--tracker", "dmaot_smoke", "--sequence", "nope", "--out", out)
    assert result.code == 2 and "no sequence 'nope'" in result.err
