"""Correctness checks of benchmarks/gpu_check.py: the device under test against CPU fp32.

Every check returns a dict with a ``status`` ("passed", "failed", or "skipped: ...") and its
figures. On a machine without CUDA the device under test is the CPU itself: the same code
runs (CPU against a second CPU instance) so that it cannot rot, and ``cuda`` says the real
comparison was skipped.

Tolerance for DMAOT logits, fp32 on CUDA against fp32 on CPU: PyTorch lets cuDNN run fp32
convolutions in TF32 (10-bit mantissa, ~5e-4 relative rounding per product), and the CUDA
kernels sum in other orders than the CPU ones. Through the ~50 convolution and attention
layers of SwinB DM-DeAOT-L that compounds to relative errors of a few 1e-3 of the logit
scale. We allow ``LOGIT_RTOL`` = 1e-2 of the largest |logit| of the frame: a real defect
(wrong memory layout, a missing stream synchronisation, a wrong kernel) moves logits by O(1)
of that scale. Pixels whose CPU top-2 margin is below the same tolerance are near-ties; outside
them the label maps must agree on >= 99.9% of pixels. Memory is written with the CPU's labels
on both sides, so one flipped pixel cannot make the two runs drift apart.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import torch

from gpu_check_timing import grid_clip
from vots_tracker.config import make_config
from vots_tracker.dmaot import EngineConfig, Propagator, build_model, load_checkpoint
from vots_tracker.refine.refiners import make_refiner
from vots_tracker.refine.prompts import clip_box, mask_box
from vots_tracker.server.session import Tracker
from vots_tracker.weights import registry

LOGIT_RTOL = 1e-2
MIN_AGREEMENT = 0.999  # labels outside near-ties; also pixels of HQ-SAM proposals
AMP_SAFE_IOU = 0.98  # mean mask IoU against fp32 for an autocast mode to be "safe to offer"
SKIPPED_NO_CUDA = "skipped: no CUDA"


def _pixel_agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean()) if a.size else 1.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _propagator(name: str, weights_dir: str, device, amp: Optional[str] = None) -> Propagator:
    path = registry.resolve_checkpoint(registry.default_dmaot_checkpoint(name), weights_dir)
    model = load_checkpoint(build_model(name), path, device)
    return Propagator(model, EngineConfig(amp=amp), device)


def compare_propagators(reference: Propagator, tested: Propagator, clip, relative: bool = True) -> Dict:
    """Run both on the clip (memory written with the reference's labels); per-frame logit error and labels."""
    first, masks = clip[0]
    reference.add_objects(masks, first)
    tested.add_objects(masks, first)
    ids = list(masks)
    frames: List[Dict] = []
    for frame, _ in clip[1:]:
        expected = reference.propagate_logits(frame).float().cpu()
        actual = tested.propagate_logits(frame).float().cpu()
        scale = float(expected.abs().max())
        error = float((actual - expected).abs().max())
        tolerance = LOGIT_RTOL * scale
        top2 = expected.topk(2, dim=1).values[0]
        decided = ((top2[0] - top2[1]) > tolerance).numpy()
        want, got = expected.argmax(1)[0].numpy(), actual.argmax(1)[0].numpy()
        frames.append({
            "max_abs_error": error, "logit_scale": scale, "relative_error": error / max(scale, 1e-12),
            "agreement_outside_ties": _pixel_agreement(want[decided], got[decided]),
            "near_tie_fraction": float(1.0 - decided.mean()),
            "labels_present": int(len(np.unique(want))),
            "mask_iou": [_iou(want == k + 1, got == k + 1) for k in range(len(ids))],
        })
        labels_as_masks = {object_id: want == k + 1 for k, object_id in enumerate(ids)}
        reference.update_memory(labels_as_masks)
        tested.update_memory(labels_as_masks)
    return {
        "frames": len(frames),
        "max_relative_error": max(f["relative_error"] for f in frames),
        "max_abs_error": max(f["max_abs_error"] for f in frames),
        "min_agreement_outside_ties": min(f["agreement_outside_ties"] for f in frames),
        "max_near_tie_fraction": max(f["near_tie_fraction"] for f in frames),
        "labels_present": max(f["labels_present"] for f in frames),
        "mean_mask_iou": float(np.mean([v for f in frames for v in f["mask_iou"]])),
        "min_mask_iou": float(np.min([v for f in frames for v in f["mask_iou"]])),
    }


def dmaot_logits(name: str, weights_dir: str, device, size, frames: int, objects: int) -> Dict:
    """DMAOT on the device under test against CPU fp32."""
    clip = grid_clip(frames, *size, objects=objects)
    result = compare_propagators(_propagator(name, weights_dir, "cpu"), _propagator(name, weights_dir, device), clip)
    ok = result["max_relative_error"] <= LOGIT_RTOL and result["min_agreement_outside_ties"] >= MIN_AGREEMENT
    return {"status": "passed" if ok else "failed", "model": name, "size": list(size), "objects": objects,
            "tolerance": f"|logit error| <= {LOGIT_RTOL} x max|logit|; labels >= {MIN_AGREEMENT:.1%} outside near-ties",
            **result}


def dmaot_amp(name: str, weights_dir: str, device, size, frames: int, objects: int, amp: str) -> Dict:
    """Autocast (bf16/fp16) against fp32, both on the device under test (CUDA only)."""
    if device.type != "cuda":
        return {"status": SKIPPED_NO_CUDA, "model": name, "amp": amp}
    clip = grid_clip(frames, *size, objects=objects)
    result = compare_propagators(_propagator(name, weights_dir, device),
                                 _propagator(name, weights_dir, device, amp=amp), clip)
    safe = result["mean_mask_iou"] >= AMP_SAFE_IOU and result["min_agreement_outside_ties"] >= 0.99
    return {"status": "passed", "model": name, "size": list(size), "amp": amp, "safe_to_offer": bool(safe),
            "verdict_rule": f"mean mask IoU vs fp32 >= {AMP_SAFE_IOU} and labels >= 99% outside near-ties",
            **result}


def _boxes(masks: Dict[int, np.ndarray], height: int, width: int) -> np.ndarray:
    return np.stack([clip_box(mask_box(m), height, width) for m in masks.values()])


def _compare_proposals(expected, actual) -> Dict:
    agreement = _pixel_agreement(expected.masks, actual.masks)
    ious = [_iou(a, b) for a, b in zip(expected.masks.reshape(-1, *expected.masks.shape[2:]),
                                      actual.masks.reshape(-1, *actual.masks.shape[2:]))]
    return {"pixel_agreement": agreement, "identical": bool(np.array_equal(expected.masks, actual.masks)),
            "min_iou": float(min(ious)), "mean_iou": float(np.mean(ious)),
            "max_score_error": float(np.abs(expected.scores - actual.scores).max())}


def hqsam_proposals(size_name: str, weights_dir: str, device, size, objects: int) -> Dict:
    """HQ-SAM (or SAM 2.1) embedding + all proposals for every object on the device under test against CPU fp32."""
    path = registry.resolve_checkpoint(registry.default_sam_checkpoint(size_name), weights_dir)
    frame, masks = grid_clip(1, *size, objects=objects)[0]
    boxes = _boxes(masks, *size)
    with torch.inference_mode():
        cpu_refiner = make_refiner(size_name, path, torch.device("cpu"))
        expected = cpu_refiner.propose(cpu_refiner.embed(frame), boxes)
        tested_refiner = make_refiner(size_name, path, device)
        actual = tested_refiner.propose(tested_refiner.embed(frame), boxes)
    result = _compare_proposals(expected, actual)
    return {"status": "passed" if result["pixel_agreement"] >= MIN_AGREEMENT else "failed", "sam": size_name,
            "size": list(size), "objects": objects, "tolerance": f"mask pixels agree >= {MIN_AGREEMENT:.1%}", **result}


def batched_decode(size_name: str, weights_dir: str, device, size, objects: int) -> Dict:
    """All objects in one decoder call against one object per call, same embedding: identical masks."""
    path = registry.resolve_checkpoint(registry.default_sam_checkpoint(size_name), weights_dir)
    frame, masks = grid_clip(1, *size, objects=objects)[0]
    boxes = _boxes(masks, *size)
    refiner = make_refiner(size_name, path, device)
    with torch.inference_mode():
        embedding = refiner.embed(frame)
        refiner.decode_batch = 0  # one call
        batched = refiner.propose(embedding, boxes)
        refiner.decode_batch = 1
        single = refiner.propose(embedding, boxes)
    result = _compare_proposals(single, batched)
    # On CUDA another batch size may pick another GEMM kernel: boundary pixels may flip.
    ok = result["identical"] if device.type == "cpu" else result["pixel_agreement"] >= 1 - 1e-5
    return {"status": "passed" if ok else "failed", "sam": size_name, "objects": objects,
            "rule": "identical on CPU; >= 99.999% of pixels on CUDA", **result}


def overlapped_embedding(preset: str, overrides: Dict, device, size, frames: int, objects: int) -> Dict:
    """The whole session with the embedding overlapped (worker thread; CUDA side stream) and sequential."""
    config = make_config(preset, device=str(device), log_level="WARNING", **overrides)
    tracker = Tracker.from_config(config)
    clip = grid_clip(frames, *size, objects=objects)
    outputs = {}
    threads = torch.get_num_threads()
    if device.type == "cpu" and threads < 2:  # on a CPU the session overlaps only with more than one thread
        torch.set_num_threads(2)
    try:
        for parallel in (False, True):
            tracker.config.parallel_embedding = parallel
            with tracker.new_session() as session:
                outputs[parallel] = [session.step(frame, masks if t == 0 else None)
                                     for t, (frame, masks) in enumerate(clip)]
                if parallel:
                    outputs["overlap_active"] = session._executor is not None
                    outputs["side_stream"] = session._stream is not None
    finally:
        torch.set_num_threads(threads)
    differing = sum(int((a[k] != b[k]).sum()) for a, b in zip(outputs[False], outputs[True]) for k in a)
    active = outputs["overlap_active"] and (outputs["side_stream"] or device.type != "cuda")
    return {"status": "passed" if differing == 0 and active else "failed", "preset": preset, "objects": objects,
            "frames": frames, "differing_pixels": differing, "overlap_active": outputs["overlap_active"],
            "side_stream": outputs["side_stream"]}
