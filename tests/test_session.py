"""The per-sequence pipeline on real models with random-init weights."""

import numpy as np
import pytest

from synthetic import moving_blobs
from vots_tracker.config import make_config
from vots_tracker.server.session import Tracker


@pytest.fixture(scope="module")
def tracker(smoke_tracker):
    return smoke_tracker  # loaded once per session (tests/conftest.py); stateless between sequences


def variant(tracker, **overrides):
    """Same loaded models, other options (what a second trackers.ini entry would do)."""
    config = make_config("hqsam_gate_smoke", weights_dir=tracker.config.weights_dir, **overrides)
    refiner = tracker.refiner if config.refine else None
    return Tracker(config, tracker.dmaot_model, refiner, tracker.device)


def run(tracker, clip, late=None):
    """Track a clip; objects in `late` ({frame: [ids]}) arrive on that frame instead of frame 0."""
    late = late or {}
    late_ids = {i for ids in late.values() for i in ids}
    outputs = []
    with tracker.new_session() as session:
        for t, (frame, masks) in enumerate(clip):
            if t == 0:
                new = {i: m for i, m in masks.items() if i not in late_ids}
            else:
                new = {i: masks[i] for i in late.get(t, [])}
            outputs.append(session.step(frame, new))
    return outputs


def assert_same(a, b):
    assert len(a) == len(b)
    for frame_a, frame_b in zip(a, b):
        assert list(frame_a) == list(frame_b)
        for key in frame_a:
            np.testing.assert_array_equal(frame_a[key], frame_b[key])


def test_tau_one_is_refinement_off(smoke_weights, caplog):
    """tau >= 1 can accept nothing: HQ-SAM is not even loaded, and the log says so once."""
    import logging

    with caplog.at_level(logging.INFO, logger="vots_tracker.server.session"):
        tracker = Tracker.from_config(make_config("hqsam_gate_smoke", weights_dir=str(smoke_weights), tau=1.0))
    assert tracker.refiner is None and tracker.new_session().refinement is None
    notes = [r for r in caplog.records if "refinement off" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.INFO


@pytest.mark.slow
def test_tau_just_below_one_runs_the_gate_and_equals_dmaot_alone(tracker):
    """tau 0.999 decodes and gates every object on every frame, and (random weights) rejects all."""
    clip = moving_blobs(frames=6)
    gated = variant(tracker, tau=0.999)
    reports = []
    outputs = []
    with gated.new_session() as session:
        assert session.refinement is not None
        for t, (frame, masks) in enumerate(clip):
            outputs.append(session.step(frame, masks if t == 0 else None))
            reports.extend(session.reports.values())
    assert len(reports) == 5 * len(clip[0][1])  # every object on every frame after the first
    gated = [r for r in reports if r.proposal is not None]  # objects DMAOT still sees
    assert len(gated) >= len(reports) // 2, reports
    assert not any(r.accepted for r in reports) and all(r.iou <= 0.999 for r in gated)
    assert_same(outputs, run(variant(tracker, sam="none"), clip))


def test_overlap_runs_on_a_cpu_only_with_more_than_one_thread(tracker, torch_threads):
    overlapped = variant(tracker, tau=0.0, parallel_embedding=True)
    for threads, active in ((1, False), (2, True)):
        torch_threads(threads)
        with overlapped.new_session() as session:
            assert (session._executor is not None) == active, threads


@pytest.mark.slow
def test_overlapped_embedding_gives_the_same_masks(tracker, monkeypatch):
    # The overlap forced at one torch thread: two torch threads beside another busy test worker would
    # wait on each other, and what is compared (the embedding computed in the worker thread) is the same.
    import vots_tracker.server.session as session_module

    monkeypatch.setattr(session_module, "_overlap_pays", lambda device: True)
    clip = moving_blobs(frames=3)
    overlapped = variant(tracker, tau=0.0, parallel_embedding=True)
    with overlapped.new_session() as session:
        assert session._executor is not None  # the embedding really runs in its worker thread
    assert_same(run(overlapped, clip), run(variant(tracker, tau=0.0, parallel_embedding=False), clip))


@pytest.mark.slow
def test_cycle_prior_feeds_final_masks_to_memory(tracker):
    clip = moving_blobs(frames=3)
    received = {}
    for cycle in (False, True):
        t = variant(tracker, tau=0.0, cycle=cycle)
        with t.new_session() as session:
            calls = []
            original = session.propagator.update_memory
            session.propagator.update_memory = lambda masks=None: (calls.append(masks), original(masks))[1]
            outputs = [session.step(frame, masks if i == 0 else None) for i, (frame, masks) in enumerate(clip)]
        received[cycle] = (calls, outputs)
    plain_calls, _ = received[False]
    cycle_calls, cycle_outputs = received[True]
    assert plain_calls == [None] * 2  # DMAOT writes its own prediction
    assert len(cycle_calls) == 2
    for masks, output in zip(cycle_calls, cycle_outputs[1:]):
        assert list(masks) == list(output)
        for key in masks:
            np.testing.assert_array_equal(masks[key], output[key])


@pytest.mark.slow
def test_late_objects_keep_arrival_order(tracker):
    clip = moving_blobs(frames=6, objects=3)
    outputs = run(tracker, clip, late={2: [3], 4: [2]})
    assert [list(o) for o in outputs] == [[1], [1], [1, 3], [1, 3], [1, 3, 2], [1, 3, 2]]
    np.testing.assert_array_equal(outputs[2][3], clip[2][1][3])  # given masks are returned as given
    for output in outputs:
        for mask in output.values():
            assert mask.shape == (120, 160) and mask.dtype == bool


def test_bad_session_input_is_named(tracker):
    clip = moving_blobs(frames=2)
    frame, masks = clip[0]
    with tracker.new_session() as session:
        with pytest.raises(ValueError, match="first frame must bring at least one object"):
            session.step(frame, {})
    with tracker.new_session() as session:
        with pytest.raises(ValueError, match="object 1: mask is 159x120 but the frame is 160x120"):
            session.step(frame, {1: masks[1][:, :-1]})
    with tracker.new_session() as session:
        with pytest.raises(ValueError, match="uint8"):
            session.step(frame.astype(np.float32), masks)
    with tracker.new_session() as session:
        session.step(frame, {1: masks[1]})
        with pytest.raises(ValueError, match="already added"):
            session.step(clip[1][0], {1: masks[1]})
