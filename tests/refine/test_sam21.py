"""SAM 2.1 refiners (`--sam sam2.1_hiera_*`) against the official `sam2==1.1.0` SAM2ImagePredictor.

Random SAM 2.1 Hiera-T weights in the official format ({"model": state_dict}), loaded strictly,
on a real frame with real masks (../shared/data; skipped when absent), downscaled to keep the
upsampling cheap (the embedding is 1024x1024 whatever the frame). One embedding serves every case.
"""

import copy
from pathlib import Path
import os

import numpy as np
import pytest
import torch

from vots_tracker.errors import UserError
from vots_tracker.refine.prompts import clip_box, mask_box, mask_box_inclusive, mask_logits

pytest.importorskip("sam2", reason="the sam2 package is not installed (make install installs it)")

from vots_tracker.refine.hqsam import HQSamCheckpointError, load_sam  # noqa: E402
from vots_tracker.refine.sam21 import (Sam21CheckpointError, Sam21Refiner, Sam2MissingError,  # noqa: E402
                                       load_sam21, proposal_tokens, write_random_checkpoint)

# the official predictor scripts its transforms with torch.jit.script, which torch now deprecates
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.script` is deprecated:FutureWarning")
# tests/conftest.py's SHARED_DATA, computed here: `from conftest import` can pick up tests/e2e/conftest.py under xdist.
SHARED_DATA = Path(os.environ.get("VOTS_TRACKER_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
DEMO = SHARED_DATA / "demo-1080p-many-objects"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint("sam2.1_hiera_t", tmp_path_factory.mktemp("sam21") / "sam2.1_hiera_tiny.pt")


@pytest.fixture(scope="module")
def frame_and_masks():
    """The demo's first 1080p frame and its three largest objects, at 480x270."""
    import cv2
    from PIL import Image

    if not DEMO.is_dir():
        pytest.skip(f"real frames not available ({DEMO})")
    frame = cv2.cvtColor(cv2.imread(str(DEMO / "images" / "00002058.jpg")), cv2.COLOR_BGR2RGB)
    labels = np.array(Image.open(DEMO / "masks" / "00002058.png"))
    frame = cv2.resize(frame, (480, 270), interpolation=cv2.INTER_AREA)
    labels = cv2.resize(labels, (480, 270), interpolation=cv2.INTER_NEAREST)
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    largest = ids[np.argsort(-counts)[:3]]
    return frame, np.stack([labels == i for i in largest])


@pytest.fixture(scope="module")
def refiner(checkpoint):
    refiner = Sam21Refiner("sam2.1_hiera_t", checkpoint, CPU)
    assert refiner.decode_batch == 1  # auto on a CPU: object by object (measured cheaper)
    refiner.decode_batch = 64  # all objects in one call, as on CUDA; per-object is compared below
    return refiner


@pytest.fixture(scope="module")
def embedded(refiner, frame_and_masks):
    """Our embedding and the official predictor, set on the same frame with the same model."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    frame, _ = frame_and_masks
    predictor = SAM2ImagePredictor(refiner.model)
    with torch.inference_mode():
        embedding = refiner.embed(frame)
        predictor.set_image(frame)
    return embedding, predictor


def prompts(kind, masks):
    height, width = masks.shape[1:]
    if kind == "box-inclusive":
        boxes = np.stack([mask_box_inclusive(m) for m in masks])
    else:
        boxes = np.stack([clip_box(mask_box(m), height, width) for m in masks])
    logits = np.stack([mask_logits(m, (1024, 1024))[None] for m in masks]) if kind == "box+mask" else None
    return boxes, logits


@pytest.mark.parametrize("objects", [1, 3])
@pytest.mark.parametrize("kind", ["box", "box-inclusive", "box+mask"])
def test_matches_the_official_predictor(refiner, embedded, frame_and_masks, kind, objects):
    embedding, predictor = embedded
    masks = frame_and_masks[1][:objects]
    boxes, logits = prompts(kind, masks)
    refiner.prompt = kind
    with torch.inference_mode():
        ours = refiner.propose(embedding, boxes, masks)
        low_res, scores = refiner.decode_logits(embedding, boxes, masks, kind)
        if objects == 1:  # the predictor's one-object call: a 3-D mask input is read as one object
            expected, iou, expected_low = predictor.predict(box=boxes[0], mask_input=None if logits is None
                                                            else logits[0], multimask_output=True)
            expected, iou, expected_low = expected[None], iou[None], expected_low[None]
        else:
            expected, iou, expected_low = predictor.predict(box=boxes, mask_input=logits, multimask_output=True)
    assert ours.names == ("sam1", "sam2", "sam3") and ours.masks.shape == (objects, 3, 270, 480)
    np.testing.assert_array_equal(ours.masks, expected.astype(bool))
    assert 0 < ours.masks.mean() < 1, "degenerate masks: the test would prove little"
    np.testing.assert_allclose(ours.scores, iou, atol=1e-5, rtol=0)
    np.testing.assert_allclose(low_res.clamp(-32, 32).numpy(), expected_low, atol=1e-5, rtol=0)
    assert ours.present.shape == (objects,)


def test_single_is_the_predictors_one_mask_and_batches_agree(checkpoint, refiner, embedded, frame_and_masks):
    embedding, predictor = embedded
    masks = frame_and_masks[1]
    boxes, _ = prompts("box", masks)
    refiner.prompt = "box"
    single, per_object = copy.copy(refiner), copy.copy(refiner)  # the same loaded model
    single.names = proposal_tokens("single")
    per_object.decode_batch = 1
    with torch.inference_mode():
        ours = single.propose(embedding, boxes)
        expected, iou, _ = predictor.predict(box=boxes, multimask_output=False)
        batched, one_by_one = refiner.propose(embedding, boxes), per_object.propose(embedding, boxes)
    np.testing.assert_array_equal(ours.masks, expected.astype(bool))
    np.testing.assert_allclose(ours.scores, iou, atol=1e-5, rtol=0)
    # Object by object agrees with one batch up to float rounding along the threshold.
    assert np.count_nonzero(batched.masks != one_by_one.masks) <= 10 * batched.masks.shape[0]
    np.testing.assert_allclose(batched.scores, one_by_one.scores, atol=1e-5)
    np.testing.assert_array_equal(batched.present, one_by_one.present)


def test_wrong_files_are_one_line_errors_naming_what_they_hold(checkpoint, smoke_weights, tmp_path):
    hq_file = smoke_weights / "sam_hq_vit_tiny.pth"
    with pytest.raises(Sam21CheckpointError, match=r"sam_hq_vit_tiny.pth holds an HQ-SAM state dict, not a "
                                                   r"SAM 2.1 checkpoint .* for --sam sam2.1_hiera_t$"):
        load_sam21("sam2.1_hiera_t", hq_file, CPU)
    with pytest.raises(HQSamCheckpointError, match=r"sam2.1_hiera_tiny.pt holds a SAM 2 checkpoint .*--sam vit_tiny"):
        load_sam("vit_tiny", checkpoint, CPU)
    truncated = tmp_path / "sam2.1_hiera_tiny.pt"
    truncated.write_bytes(checkpoint.read_bytes()[: 1 << 20])
    with pytest.raises(Sam21CheckpointError, match=r"cannot read SAM 2.1 checkpoint .*sam2.1_hiera_tiny.pt \(trunc"):
        load_sam21("sam2.1_hiera_t", truncated, CPU)
    with pytest.raises(Sam21CheckpointError, match=r"sam2.1_hiera_tiny.pt holds SAM 2.1 sam2.1_hiera_t, not "
                                                   r"sam2.1_hiera_s: \d+ missing key"):
        load_sam21("sam2.1_hiera_s", checkpoint, CPU)
    for error in (Sam21CheckpointError, HQSamCheckpointError):
        assert issubclass(error, UserError)


def test_a_wrong_file_stops_the_tracker_before_any_frame(checkpoint, smoke_weights):
    from vots_tracker.config import make_config
    from vots_tracker.server.session import Tracker

    config = make_config("sam21_gate_smoke", weights_dir=str(smoke_weights), device="cpu",
                         sam_checkpoint=str(smoke_weights / "sam_hq_vit_tiny.pth"))
    with pytest.raises(UserError) as info:
        Tracker.from_config(config)
    assert "holds an HQ-SAM state dict" in str(info.value) and "\n" not in str(info.value)


def test_without_sam2_only_sam21_refiners_fail(monkeypatch, checkpoint, smoke_weights):
    from vots_tracker.config import make_config
    from vots_tracker.refine.refiners import make_refiner

    monkeypatch.setitem(__import__("sys").modules, "sam2.build_sam", None)  # import sam2.build_sam fails
    with pytest.raises(Sam2MissingError, match=r"need the sam2 package.*: install it with SAM2_BUILD_CUDA=0 pip "
                                               r"install --no-build-isolation sam2==1.1.0"):
        make_refiner("sam2.1_hiera_t", checkpoint, CPU)
    assert make_config("sam21_l_gate").sam == "sam2.1_hiera_l"  # configurations still parse
    hq = make_refiner("vit_tiny", smoke_weights / "sam_hq_vit_tiny.pth", CPU)  # HQ-SAM is untouched
    assert hq.names == ("hq", "sam1", "sam2", "sam3")


def test_config_knows_the_sizes_proposals_and_files():
    from vots_tracker.components import required_checkpoints
    from vots_tracker.config import ConfigError, make_config

    assert required_checkpoints(make_config("sam21_l_gate")) == [
        "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth", "sam2.1_hiera_large.pt"]
    assert required_checkpoints(make_config("sam21_t_rt"))[1] == "sam2.1_hiera_tiny.pt"
    assert make_config("sam21_l_gate", sam="sam2.1_hiera_b+").sam == "sam2.1_hiera_b+"
    assert make_config("sam21_l_gate", proposals="single").proposals == "single"
    with pytest.raises(ConfigError, match=r"proposals 'hq' need HQ-SAM; with SAM 2.1 \(sam2.1_hiera_l\) use one of "
                                          r"all, 1, 2, 3, single"):
        make_config("sam21_l_gate", proposals="hq")


@pytest.mark.parametrize("present", [True, False])
def test_redetection_needs_sam21s_object_score(refiner, embedded, frame_and_masks, present):
    """With every other re-detection rule relaxed, SAM 2.1's object score alone decides."""
    from vots_tracker.refine.redetect import RedetectOptions
    from vots_tracker.refine.stage import RefineOptions, RefinementSession

    embedding, _ = embedded
    mask = frame_and_masks[1][0]
    lenient = RedetectOptions(min_score=-1.0, min_box_iou=0.0, max_area_change=1e9, max_overlap=1.0)
    session = RefinementSession(refiner, RefineOptions(tau=1.0, redetect=True, redetect_options=lenient))
    head = refiner.model.sam_mask_decoder.pred_obj_score_head
    last = head.layers[-1] if hasattr(head, "layers") else head
    saved = last.bias.detach().clone()
    refiner.prompt = "box"
    with torch.inference_mode():
        session.refine(embedding, {1: mask})  # seen: its Kalman filter starts
    try:
        with torch.no_grad():
            last.bias.fill_(50.0 if present else -50.0)  # the decoder's "object present" logit
        with torch.inference_mode():
            final, reports = session.refine(embedding, {1: np.zeros_like(mask)})  # DMAOT lost it
    finally:
        with torch.no_grad():
            last.bias.copy_(saved)
    assert reports[1].redetected is present and bool(final[1].any()) is present
