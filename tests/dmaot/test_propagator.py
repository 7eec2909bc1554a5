"""Propagator behaviour: memory caps, identity groups, ids, sizes and awkward inputs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from vots_tracker.dmaot import EngineConfig, Propagator, build_model
from vots_tracker.dmaot.propagator import processing_size

from .clips import moving_discs

H, W = 64, 96


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("dm_deaott")


def _start(model, objects=2, config=None, ids=None, frames=6):
    clip = moving_discs(frames, H, W, objects=objects, seed=2)
    prop = Propagator(model, config or EngineConfig(long_max=3, long_gap=1, short_gap=2), "cpu")
    ids = ids or list(range(1, objects + 1))
    prop.add_objects({ids[k]: clip[0][1] == k + 1 for k in range(objects)}, clip[0][0])
    return prop, clip


def _run(prop, clip, start=1):
    out = None
    for frame, _ in clip[start:]:
        out = prop.propagate(frame)
        prop.update_memory()
    return out


def test_memory_cap_keeps_reference_frame(model):
    prop, clip = _start(model, frames=10)
    _run(prop, clip)
    memory = prop.groups[0].long_term
    assert memory.evictions > 0
    for identity, frames in memory.by_identity.items():
        assert len(frames) <= 3
        assert frames[-1].is_ref and frames[-1].frame == 0, f"identity {identity} lost its reference frame"
    assert memory.layers[0][0].shape[1] == memory.tokens()


def test_plain_model_cap_keeps_reference_frame():
    torch.manual_seed(0)
    prop, clip = _start(build_model("deaott"), frames=9)
    _run(prop, clip)
    memory = prop.groups[0].long_term
    assert memory.evictions > 0 and len(memory.segments) == 3
    assert memory.segments[-1].is_ref and memory.segments[-1].frame == 0


def test_more_than_ten_objects_share_the_encoder(model, monkeypatch):
    prop, clip = _start(model, objects=12)
    assert len(prop.groups) == 2
    calls = []
    original = model.encode
    monkeypatch.setattr(model, "encode", lambda x: calls.append(1) or original(x))
    out = _run(prop, clip, start=1)
    assert len(calls) == len(clip) - 1  # one encoder pass per frame, whatever the group count
    assert sorted(out) == list(range(1, 13))
    assert all(m.shape == (H, W) and m.dtype == bool for m in out.values())
    labels = np.stack([out[k] for k in range(1, 13)]).sum(0)
    assert labels.max() <= 1  # masks never overlap


def test_arbitrary_ids_and_late_objects(model):
    prop, clip = _start(model, objects=2, ids=[907, 3])
    prop.propagate(clip[1][0])
    prop.add_objects({42: clip[1][1] == 2})
    prop.update_memory()
    assert prop.object_ids == [907, 3, 42]
    out = _run(prop, clip, start=2)
    assert list(out) == [907, 3, 42]
    with pytest.raises(ValueError, match="already tracked"):
        prop.propagate(clip[2][0])
        prop.add_objects({3: clip[2][1] == 1})
    with pytest.raises(ValueError, match="positive"):
        prop.add_objects({0: clip[2][1] == 1})


def test_objects_added_beyond_ten_open_a_group(model):
    prop, clip = _start(model, objects=9)
    prop.propagate(clip[1][0])
    prop.add_objects({100 + k: np.zeros((H, W), bool) for k in range(3)})
    prop.update_memory()
    assert len(prop.groups) == 2 and [g.count for g in prop.groups] == [10, 2]
    assert len(_run(prop, clip, start=2)) == 12


def test_refined_masks_feed_memory(model):
    prop, clip = _start(model)
    prop.propagate(clip[1][0])
    prop.update_memory({1: clip[1][1] == 1, 2: clip[1][1] == 2})
    with pytest.raises(RuntimeError, match="once per frame"):
        prop.update_memory()
    with pytest.raises(ValueError, match="unknown object"):
        prop.propagate(clip[2][0])
        prop.update_memory({77: clip[2][1] == 1})


def test_max_edge_resize_returns_full_size_masks(model):
    clip = moving_discs(3, 120, 200, objects=2, seed=4)
    prop = Propagator(model, EngineConfig(max_edge=100), "cpu")
    prop.add_objects({1: clip[0][1] == 1, 2: clip[0][1] == 2}, clip[0][0])
    assert prop.processing_size == (65, 97)
    out = prop.propagate(clip[1][0])
    assert all(m.shape == (120, 200) for m in out.values())
    assert processing_size(120, 200, None, True) == (113, 193)
    assert processing_size(480, 854, 1040, False) == (480, 848)
    assert processing_size(1080, 1920, 1040, True) == (577, 1041)  # 585 snaps down: numpy rounds half to even


def test_empty_initial_mask_is_tracked_as_absent(model, caplog):
    """An empty first mask registers the object with no pixel in memory; it keeps its output slot, empty."""
    clip = moving_discs(3, H, W, objects=1, seed=5)
    prop = Propagator(model, EngineConfig(), "cpu")
    with caplog.at_level(logging.WARNING):
        prop.add_objects({1: clip[0][1] == 1, 2: np.zeros((H, W), bool)}, clip[0][0])
    assert "object 2 starts with an empty mask" in caplog.text
    group = prop.groups[0]
    assert group.count == 2 and prop.object_ids == [1, 2]
    assert set(group.long_term.by_identity) == {0, 1}  # background and object 1; nothing of object 2
    assert not (prop._to_processing_size(prop._labels) == 2).any()
    for frame, _ in clip[1:]:
        out = prop.propagate(frame)
        prop.update_memory()
        assert list(out) == [1, 2] and all(m.shape == (H, W) and m.dtype == bool for m in out.values())
        assert not out[2].any() and out[1].any()  # no appearance to track: absent, not hallucinated


def test_border_and_one_pixel_objects(model):
    frame = moving_discs(1, H, W, objects=1, seed=6)[0][0]
    border = np.zeros((H, W), bool)
    border[:, :3] = True
    dot = np.zeros((H, W), bool)
    dot[H - 1, W - 1] = True
    prop = Propagator(model, EngineConfig(), "cpu")
    prop.add_objects({1: border, 2: dot.astype(np.uint8)}, frame)
    # both objects survive the resize to the processing size: the border column, the corner pixel
    processed = prop._to_processing_size(prop._labels)[0, 0]
    assert (processed[:, 0] == 1).all() and (processed == 2).sum() >= 1 and processed[-1, -1] == 2
    assert 1 in prop.groups[0].long_term.by_identity  # the 3-pixel column reaches the 16x memory tokens
    out = prop.propagate(frame)
    prop.update_memory({1: border, 2: dot})  # one-pixel masks can be written back to memory
    assert list(out) == [1, 2] and all(m.shape == (H, W) and m.dtype == bool for m in out.values())
    assert len(prop.groups[0].short_terms) >= 1


def test_grayscale_and_other_size_frames(model, caplog):
    prop, clip = _start(model)
    gray = clip[1][0].mean(axis=2).astype(np.uint8)
    assert all(m.shape == (H, W) for m in prop.propagate(gray).values())
    prop.update_memory()
    bigger = np.zeros((H * 2, W + 10, 3), np.uint8)
    with caplog.at_level(logging.WARNING):
        out = prop.propagate(bigger)
    assert "differs from the first frame" in caplog.text
    assert all(m.shape == (H * 2, W + 10) for m in out.values())
    prop.update_memory({1: out[1], 2: out[2]})


@pytest.mark.parametrize("frame", [np.zeros((H, W, 4), np.uint8), np.zeros((H, W, 3), np.float32)])
def test_bad_frames_are_rejected(model, frame):
    prop, _ = _start(model)
    with pytest.raises(ValueError, match="frames must be"):
        prop.propagate(frame)


def test_call_order_errors(model):
    prop = Propagator(model, EngineConfig(), "cpu")
    frame, labels = moving_discs(1, H, W, objects=1)[0]
    with pytest.raises(RuntimeError, match="must come before"):
        prop.propagate(frame)
    with pytest.raises(ValueError, match="needs the frame"):
        prop.add_objects({1: labels == 1})
    with pytest.raises(ValueError, match="shape"):
        prop.add_objects({1: np.ones((3, 3), bool)}, frame)
    assert prop.object_ids == []  # a rejected call changes nothing
    prop.add_objects({1: labels == 1}, frame)
    prop.update_memory()  # after the reference frame: nothing to do
    with pytest.raises(RuntimeError, match="after propagate"):
        prop.add_objects({2: labels == 1})
