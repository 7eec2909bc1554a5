"""Vanilla SAM refiners (`--sam sam_vit_b|l|h`) against the official `segment-anything==1.0` predictor.

On random weights, in the official checkpoint format, loaded strictly. To keep the test cheap,
the official package's own builder makes a small ViT under the name vit_b (2 blocks of width
64); everything else (prompt encoder, mask decoder, checkpoint loading, our adapter) is the
real code path.
"""

from functools import partial

import numpy as np
import pytest
import torch

from vots_tracker.errors import UserError
from vots_tracker.refine.hqsam import HQSamCheckpointError, HQSamRefiner, load_sam, write_random_checkpoint
from vots_tracker.refine.prompts import clip_box, mask_box, prompt_boxes

H, W = 96, 128


@pytest.fixture
def small_vit_b(monkeypatch):
    import segment_anything
    from segment_anything.build_sam import _build_sam

    small = partial(_build_sam, encoder_embed_dim=64, encoder_depth=2, encoder_num_heads=2,
                    encoder_global_attn_indexes=[1])
    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_b", small)


@pytest.fixture
def frame_and_boxes():
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    masks = np.zeros((3, H, W), dtype=bool)
    masks[0, 10:40, 10:50] = True
    masks[1, 50:90, 60:120] = True
    masks[2, 20:35, 80:100] = True
    return frame, np.stack([clip_box(mask_box(m), H, W) for m in masks])


def test_matches_the_official_predictor(small_vit_b, frame_and_boxes, tmp_path):
    from segment_anything import SamPredictor

    frame, boxes = frame_and_boxes
    checkpoint = write_random_checkpoint("sam_vit_b", tmp_path / "sam_vit_b_01ec64.pth")
    refiner = HQSamRefiner("sam_vit_b", checkpoint, torch.device("cpu"), decode_batch=64)
    assert refiner.names == ("sam1", "sam2", "sam3")
    with torch.inference_mode():
        embedding = refiner.embed(frame)
        assert embedding.hq_features is None
        ours = refiner.propose(embedding, boxes)
        low_res, scores = refiner.decode_logits(embedding, boxes)
        predictor = SamPredictor(refiner.model)
        predictor.set_image(frame)
        box_input = predictor.transform.apply_boxes_torch(torch.as_tensor(boxes), frame.shape[:2])
        masks, iou, logits = predictor.predict_torch(None, None, boxes=box_input, multimask_output=True)
    np.testing.assert_array_equal(ours.masks, masks.numpy())
    assert 0 < ours.masks.mean() < 1, "degenerate masks: the test would prove little"
    assert (low_res - logits).abs().max().item() <= 1e-5
    np.testing.assert_allclose(ours.scores, iou.numpy(), atol=1e-5)
    first = HQSamRefiner("sam_vit_b", checkpoint, torch.device("cpu"), proposals=1)
    first.model = refiner.model
    with torch.inference_mode():
        np.testing.assert_array_equal(first.propose(embedding, boxes).masks[:, 0], masks[:, 0].numpy())


def test_checkpoints_load_strictly(small_vit_b, tmp_path):
    checkpoint = write_random_checkpoint("sam_vit_b", tmp_path / "sam_vit_b_01ec64.pth")
    state = torch.load(checkpoint, weights_only=True)
    assert not any(key.startswith("mask_decoder.hf_") for key in state)  # no HQ-only parameters
    state["mask_decoder.hf_token.weight"] = torch.zeros(1, 256)  # an HQ-SAM parameter
    extra = tmp_path / "extra.pth"
    torch.save(state, extra)
    with pytest.raises(HQSamCheckpointError, match="SAM checkpoint .*extra.pth does not match sam_vit_b: 0 missing"):
        load_sam("sam_vit_b", extra, torch.device("cpu"))
    with pytest.raises(HQSamCheckpointError, match="SAM checkpoint .*sam_vit_b_01ec64.pth does not match vit_tiny"):
        load_sam("vit_tiny", checkpoint, torch.device("cpu"))
    for mode in ("hq", "single", 4):
        with pytest.raises(UserError, match="proposals with vanilla SAM must be one of all, 1, 2, 3"):
            HQSamRefiner("sam_vit_b", checkpoint, torch.device("cpu"), proposals=mode)


def test_config_knows_the_vanilla_sizes_and_their_files():
    from vots_tracker.components import required_checkpoints
    from vots_tracker.config import ConfigError, make_config

    assert required_checkpoints(make_config("hqsam_gate", sam="sam_vit_l")) == [
        "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth", "sam_vit_l_0b3195.pth"]
    with pytest.raises(ConfigError, match="proposals 'hq' need HQ-SAM; with vanilla SAM \\(sam_vit_b\\) use one of"):
        make_config("hqsam_gate", sam="sam_vit_b", proposals="hq")
    off = make_config("hqsam_gate", sam="sam_vit_b", gate="off", tau=1.0)
    assert off.refine  # gate off ignores tau


def test_gate_off_reports_sams_first_mask_for_every_present_object(small_vit_b, tmp_path):
    from synthetic import moving_blobs
    from vots_tracker.config import make_config
    from vots_tracker.server.session import Tracker
    from vots_tracker.weights.random_init import init_random

    init_random(tmp_path, ["deaott", "sam_vit_b"])  # the small ViT under sam_vit_b's name, listed as random
    config = make_config("sam_b", model="deaott", long_max=3, long_gap=4, max_edge=320, threads=1, device="cpu",
                         resolve_overlaps=False, weights_dir=str(tmp_path))
    tracker = Tracker.from_config(config)
    clip = moving_blobs(frames=3)
    with tracker.new_session() as session:
        for t, (frame, masks) in enumerate(clip):
            output = session.step(frame, masks if t == 0 else None)
            if t == 0:
                continue
            labels = session.propagator.label_map
            present = [i for i in output if (labels == i).any()]
            assert present, "DMAOT lost every object: the test would prove little"
            boxes = prompt_boxes(np.stack([labels == i for i in present]), config.prompt)  # the session's own prompt
            with torch.inference_mode():
                expected = tracker.refiner.propose(tracker.refiner.embed(frame), boxes).masks[:, 0]
            for n, object_id in enumerate(present):
                report = session.reports[object_id]
                assert report.accepted and report.proposal == "sam1"
                np.testing.assert_array_equal(output[object_id], expected[n])
