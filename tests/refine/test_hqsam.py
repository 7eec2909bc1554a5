"""HQ-SAM adapter and refinement stage on a random-init vit_tiny in the official format."""

import copy

import numpy as np
import pytest
import torch

from vots_tracker.refine.hqsam import HQSamCheckpointError, HQSamRefiner, load_sam, write_random_checkpoint
from vots_tracker.refine.overlap import resolve_overlaps
from vots_tracker.refine.prompts import clip_box, interior_point, mask_box, mask_logits
from vots_tracker.refine.stage import RefinementSession, RefineOptions

H, W = 96, 128


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint("vit_tiny", tmp_path_factory.mktemp("sam") / "sam_hq_vit_tiny.pth")


@pytest.fixture(scope="module")
def frame_and_masks():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
    masks = np.zeros((3, H, W), dtype=bool)
    masks[0, 10:40, 10:50] = True
    masks[1, 50:90, 60:120] = True
    masks[2, 20:35, 80:100] = True
    for k, colour in enumerate([(250, 30, 30), (30, 250, 30), (30, 30, 250)]):
        frame[masks[k]] = colour
    return frame, masks


@pytest.fixture(scope="module")
def refiner(checkpoint):
    # decode_batch 64: every object in one decoder call (auto would decode one by one on a CPU)
    return HQSamRefiner("vit_tiny", checkpoint, torch.device("cpu"), decode_batch=64)


@pytest.fixture(scope="module")
def embedding(refiner, frame_and_masks):
    with torch.inference_mode():
        return refiner.embed(frame_and_masks[0])


def boxes_of(masks):
    return np.stack([clip_box(mask_box(m), H, W) for m in masks])


def test_batched_decoding_equals_object_by_object(refiner, embedding, frame_and_masks):
    _, masks = frame_and_masks
    boxes = boxes_of(masks)
    with torch.inference_mode():
        batched = refiner.propose(embedding, boxes, masks)
        singles = [refiner.propose(embedding, boxes[n : n + 1], masks[n : n + 1]) for n in range(3)]
    assert batched.masks.shape == (3, 4, H, W) and batched.names == ("hq", "sam1", "sam2", "sam3")
    for n in range(3):
        np.testing.assert_array_equal(batched.masks[n], singles[n].masks[0])
        np.testing.assert_allclose(batched.scores[n], singles[n].scores[0], atol=1e-5)


@pytest.mark.parametrize("decode_batch", [0, 1, 2])
def test_decoder_batches_give_the_same_proposals(checkpoint, refiner, embedding, frame_and_masks, decode_batch):
    _, masks = frame_and_masks
    boxes = boxes_of(masks)
    chunked = HQSamRefiner("vit_tiny", checkpoint, torch.device("cpu"), decode_batch=decode_batch)
    assert chunked.decode_batch == (decode_batch or 1)  # auto on a CPU: one object per call
    with torch.inference_mode():
        one_call = refiner.propose(embedding, boxes, masks)
        chunked.model = refiner.model  # same weights, same embedding
        parts = chunked.propose(embedding, boxes, masks)
    np.testing.assert_array_equal(parts.masks, one_call.masks)
    np.testing.assert_allclose(parts.scores, one_call.scores, atol=1e-5)


@pytest.mark.parametrize("prompt", ["box+mask", "box+points"])
def test_other_prompts_decode(checkpoint, refiner, embedding, frame_and_masks, prompt):
    """The mask or point prompt reaches the decoder: every object's output differs from box alone."""
    _, masks = frame_and_masks
    prompted = HQSamRefiner("vit_tiny", checkpoint, torch.device("cpu"), prompt=prompt, proposals=2)
    prompted.model = refiner.model  # same weights, same embedding
    with torch.inference_mode():
        proposals = prompted.propose(embedding, boxes_of(masks), masks)
        box_only = prompted.propose(embedding, boxes_of(masks), masks, prompt="box")
    assert proposals.masks.shape == (3, 2, H, W) and proposals.names == ("hq", "sam1")
    assert (np.abs(proposals.scores - box_only.scores) > 1e-4).all(), (proposals.scores, box_only.scores)
    changed = [(proposals.masks[n] != box_only.masks[n]).sum() for n in range(3)]
    assert all(count > 0 for count in changed), changed


def test_single_mode_equals_the_official_predictor(checkpoint, frame_and_masks):
    from segment_anything_hq import SamPredictor

    frame, masks = frame_and_masks
    refiner = HQSamRefiner("vit_tiny", checkpoint, torch.device("cpu"), proposals="single", decode_batch=64)
    boxes = boxes_of(masks)
    with torch.inference_mode():
        ours = refiner.propose(refiner.embed(frame), boxes)
        predictor = SamPredictor(refiner.model)
        predictor.set_image(frame)
        box_input = predictor.transform.apply_boxes_torch(torch.as_tensor(boxes), frame.shape[:2])
        theirs, scores, _ = predictor.predict_torch(None, None, boxes=box_input, multimask_output=True)
    np.testing.assert_array_equal(ours.masks, theirs.numpy())
    np.testing.assert_allclose(ours.scores, scores.numpy(), atol=1e-6)


def test_checkpoint_errors_name_the_file(tmp_path, checkpoint):
    with pytest.raises(HQSamCheckpointError, match="not found: .*nothing.pth"):
        load_sam("vit_tiny", tmp_path / "nothing.pth", torch.device("cpu"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(HQSamCheckpointError, match="cannot read HQ-SAM checkpoint .*garbage.pth"):
        load_sam("vit_tiny", garbage, torch.device("cpu"))
    with pytest.raises(HQSamCheckpointError, match="sam_hq_vit_tiny.pth does not match vit_b"):
        load_sam("vit_b", checkpoint, torch.device("cpu"))
    state = torch.load(checkpoint, weights_only=True)
    state.pop("mask_decoder.hf_token.weight")
    partial = tmp_path / "partial.pth"
    torch.save(state, partial)
    with pytest.raises(HQSamCheckpointError, match="1 missing key.*hf_token"):
        load_sam("vit_tiny", partial, torch.device("cpu"))


def test_prompt_geometry():
    assert clip_box(np.array([-5, -5, 300, 300]), H, W).tolist() == [0, 0, W, H]
    ring = np.zeros((40, 40), dtype=bool)
    ring[5:35, 5:35] = True
    ring[12:28, 12:28] = False
    x, y = interior_point(ring)
    assert ring[int(y), int(x)]
    assert interior_point(np.zeros((4, 4), bool)) is None
    logits = mask_logits(ring, (1024, 1024))
    assert logits.shape == (256, 256) and logits.max() > 0 > logits.min()


@pytest.mark.parametrize("tau", [1.0, 0.999])
def test_tau_one_returns_the_dmaot_masks(refiner, embedding, frame_and_masks, tau):
    """tau 1 skips decoding; tau 0.999 goes through the real decoder and gate and rejects all."""
    _, masks = frame_and_masks
    coarse = {i + 1: masks[i] for i in range(3)}
    coarse[4] = masks[0] | masks[2]  # overlaps objects 1 and 3
    for overlaps in (False, True):
        session = RefinementSession(refiner, RefineOptions(tau=tau, resolve_overlaps=overlaps))
        with torch.inference_mode():
            final, reports = session.refine(embedding, coarse)
        expected = np.stack(list(coarse.values()))
        if overlaps:
            expected = resolve_overlaps(expected, expected)
        np.testing.assert_array_equal(np.stack(list(final.values())), expected)
        assert not any(r.accepted for r in reports.values())
        gated = [r for r in reports.values() if r.proposal is not None]
        assert len(gated) == (0 if tau >= 1.0 else 4)  # the gate saw (and rejected) every object's best proposal
        assert all(0.0 <= r.iou <= tau for r in gated)


def test_stage_reports_and_resolves(refiner, embedding, frame_and_masks):
    _, masks = frame_and_masks
    coarse = {i + 1: masks[i] for i in range(3)}
    coarse[9] = np.zeros((H, W), dtype=bool)  # absent object: never refined
    with torch.inference_mode():
        final, reports = RefinementSession(refiner, RefineOptions(tau=0.0)).refine(embedding, coarse)
    assert list(final) == [1, 2, 3, 9]
    assert not final[9].any() and not reports[9].accepted and reports[9].proposal is None
    stacked = np.stack(list(final.values())).astype(int)
    assert stacked.sum(axis=0).max() <= 1
    for object_id in (1, 2, 3):
        assert reports[object_id].proposal in ("hq", "sam1", "sam2", "sam3")
        assert reports[object_id].accepted == (reports[object_id].iou > 0.0)


def test_stage_redetects_only_lost_objects(refiner, embedding, frame_and_masks):
    """The stage's re-detection path: a lost object is prompted with its predicted box."""
    from vots_tracker.refine.redetect import RedetectOptions

    _, masks = frame_and_masks
    # Random weights: accept any qualifying proposal, so the path is exercised end to end.
    lenient = RedetectOptions(min_score=-1e9, min_box_iou=0.0, max_area_change=1e9, max_overlap=1.0)
    session = RefinementSession(refiner, RefineOptions(tau=1.0, redetect=True, redetect_options=lenient))
    with torch.inference_mode():
        session.refine(embedding, {1: masks[0], 2: masks[1]})
        final, reports = session.refine(embedding, {1: np.zeros((H, W), bool), 2: masks[1]})
    assert reports[1].redetected and reports[1].accepted and final[1].any()
    assert not reports[2].redetected
    np.testing.assert_array_equal(final[2] | masks[1], masks[1])  # object 2 keeps (part of) its DMAOT mask
    assert not (final[1] & final[2]).any()  # overlap resolution still applies


# README's guarantee for --decode-batch: the same masks up to float rounding along the threshold.
DECODE_BATCH_PIXELS = 10  # per mask (1-2 seen on the 1080p frame below)
DECODE_BATCH_SCORE = 1e-5  # ~1.5e-7 seen


def test_decode_batch_on_a_real_frame_agrees_within_the_readme_tolerance(refiner):
    """Batched and per-object decoding of 12 objects on a real 1080p frame (skips without shared data)."""
    from PIL import Image

    root = _shared_data() / "demo-1080p-many-objects"
    if not (root / "masks" / "00002058.png").is_file():
        pytest.skip(f"no real frames at {root}")
    frame = np.asarray(Image.open(root / "images" / "00002058.jpg").convert("RGB"))
    labels = np.asarray(Image.open(root / "masks" / "00002058.png"))
    masks = np.stack([labels == i for i in np.unique(labels)[1:13]])
    boxes = np.stack([clip_box(mask_box(m), *frame.shape[:2]) for m in masks])
    one_by_one, batched = copy.copy(refiner), copy.copy(refiner)  # the same loaded model
    one_by_one.decode_batch, batched.decode_batch = 1, 4
    with torch.inference_mode():
        embedding = refiner.embed(frame)
        single = one_by_one.propose(embedding, boxes, masks)
        grouped = batched.propose(embedding, boxes, masks)
    differing = (single.masks != grouped.masks).sum(axis=(2, 3))
    assert differing.max() <= DECODE_BATCH_PIXELS, differing
    np.testing.assert_allclose(grouped.scores, single.scores, rtol=0, atol=DECODE_BATCH_SCORE)


def _shared_data():
    """tests/conftest.py's SHARED_DATA (importing it by name can pick up another folder's conftest)."""
    import os
    from pathlib import Path

    return Path(os.environ.get("VOTS_TRACKER_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
