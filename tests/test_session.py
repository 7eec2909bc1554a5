"""The per-sequence pipeline on real models with random-init weights."""

import numpy as np
import pytest

from synthetic import moving_blobs
from vots_tracker.config import make_config
from vots_tracker.session import Tracker


@pytest.fixture(scope="module")
def tracker(smoke_weights):
    return Tracker.from_config(make_config("hqsam_gate_smoke", weights_dir=str(smoke_weights)))


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


@pytest.mark.slow
def test_tau_one_equals_dmaot_alone(tracker):
    clip = moving_blobs(frames=6)
    assert_same(run(variant(tracker, tau=1.0), clip), run(variant(tracker, sam="none"), clip))


@pytest.mark.slow
def test_overlapped_embedding_gives_the_same_masks(tracker):
    clip = moving_blobs(frames=5)
    assert_same(
        run(variant(tracker, tau=0.0, parallel_embedding=True), clip),
        run(variant(tracker, tau=0.0, parallel_embedding=False), clip),
    )


@pytest.mark.slow
def test_cycle_prior_feeds_final_masks_to_memory(tracker):
    clip = moving_blobs(frames=4)
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
    assert plain_calls == [None] * 3  # DMAOT writes its own prediction
    assert len(cycle_calls) == 3
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
