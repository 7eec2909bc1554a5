"""Refinement faults cost a frame, not a sequence: TrackingSession with the test-only fault hook.

The hook (refine_fault_hook.py) makes HQ-SAM's embedding raise on chosen frames. DMAOT's
memory is written with its own prediction (no cycle prior), so a DMAOT-only session on the
same frames gives exactly the masks a failed frame must fall back to.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import refine_fault_hook as hook
from trax_harness import write_clip

FRAMES = 4


@pytest.fixture(scope="module")
def models(smoke_weights):
    from vots_tracker.config import make_config
    from vots_tracker.server.session import Tracker

    refined = Tracker.from_config(make_config("hqsam_gate_smoke", weights_dir=str(smoke_weights), decode_batch=4))
    dmaot_only = Tracker.from_config(make_config("dmaot_smoke", weights_dir=str(smoke_weights)))
    return refined, dmaot_only


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    import cv2

    paths, masks = write_clip(tmp_path_factory.mktemp("fault-clip"), frames=FRAMES, objects=2)
    return [cv2.imread(str(p))[:, :, ::-1].copy() for p in paths], masks


def run(tracker, clip, max_failures=None):
    if max_failures is not None:
        tracker.config.max_refine_failures = max_failures
    frames, masks = clip
    session = tracker.new_session()
    try:
        outputs = [session.step(frames[0], {1: masks[0][0], 2: masks[0][1]})]
        outputs += [session.step(frame) for frame in frames[1:]]
    finally:
        session.close()
    return session, outputs


@pytest.fixture(scope="module")
def dmaot_masks(models, clip):
    return run(models[1], clip)[1]


@pytest.fixture(autouse=True)
def fresh_hook_log():
    hook.CALLS.clear()


def same(a, b):
    return list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_failed_frames_keep_dmaot_masks_and_are_counted(models, clip, dmaot_masks, monkeypatch, caplog):
    hook.install("2,3", monkeypatch)
    with caplog.at_level(logging.INFO):
        session, outputs = run(models[0], clip, max_failures=5)
    assert session.faults.failed_frames == [2, 3] and session.faults.enabled
    for t in (2, 3):
        assert same(outputs[t], dmaot_masks[t])
    assert [frame for frame, _batch in hook.CALLS] == [1, 2, 3]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "refinement failed" in r.getMessage()]
    assert len(warnings) == 2 and "injected HQ-SAM fault on frame 2" in warnings[0]
    assert any("refinement failed on 2 of 3 frame(s) (2, 3)" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_consecutive_failures_turn_refinement_off(models, clip, dmaot_masks, monkeypatch, caplog):
    hook.install("1,2,3", monkeypatch)
    with caplog.at_level(logging.INFO):
        session, outputs = run(models[0], clip, max_failures=2)
    assert session.faults.disabled_at == 2
    assert [frame for frame, _batch in hook.CALLS] == [1, 2]  # no HQ-SAM work once it is off
    assert all(same(out, ref) for out, ref in zip(outputs, dmaot_masks))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["refinement failed on 2 consecutive frames; turned off for the rest of this sequence "
                      "(DMAOT only from frame 3)"]


@pytest.mark.slow
def test_out_of_memory_is_retried_with_a_smaller_decode_batch(models, clip, monkeypatch, caplog):
    hook.install("oom:1", monkeypatch)
    with caplog.at_level(logging.INFO):
        session, _outputs = run(models[0], clip, max_failures=5)
    assert session.faults.failed_frames == []
    assert hook.CALLS[:2] == [(1, 4), (1, 2)]  # the retry decodes in half the batch
    assert all(batch == 4 for _frame, batch in hook.CALLS[2:])  # and the batch is restored afterwards
    assert any("retrying with decode batch 2" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_a_dmaot_fault_still_ends_the_session(models, clip, monkeypatch):
    hook.install("dmaot:2", monkeypatch)
    with pytest.raises(RuntimeError, match="injected DMAOT fault on frame 2"):
        run(models[0], clip, max_failures=5)
