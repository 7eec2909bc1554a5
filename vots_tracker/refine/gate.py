"""The IoU gate: keep a refined proposal only where it agrees with DMAOT.

For each object, the proposal with the highest IoU against the DMAOT mask is
chosen (ties: the first proposal in order wins); it replaces the DMAOT mask only
if that IoU is strictly greater than tau. An empty DMAOT mask is never refined
here (lost objects go through re-detection instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class GateDecision:
    masks: np.ndarray  # (N, H, W) bool: the chosen proposal or the DMAOT mask
    accepted: np.ndarray  # (N,) bool
    iou: np.ndarray  # (N,) float: IoU of the best proposal with the DMAOT mask (0 when none)
    index: np.ndarray  # (N,) int: index of the best proposal (-1 when there are none)


def mask_iou(proposals: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """IoU of each of K proposals with its object's reference mask: (N,K,H,W), (N,H,W) -> (N,K).

    Two empty masks have IoU 0 (nothing to agree on).
    """
    proposals = proposals.reshape(proposals.shape[0], proposals.shape[1], -1)
    reference = reference.reshape(reference.shape[0], 1, -1)
    intersection = np.count_nonzero(proposals & reference, axis=2)
    union = np.count_nonzero(proposals | reference, axis=2)
    return np.where(union > 0, intersection / np.maximum(union, 1), 0.0)


def gate(proposals: np.ndarray, coarse: np.ndarray, tau: float, iou: Optional[np.ndarray] = None) -> GateDecision:
    """Select per object among K proposals: (N,K,H,W) bool proposals, (N,H,W) bool DMAOT masks.

    ``iou``: ``mask_iou(proposals, coarse)`` when already computed (it does not depend on tau).
    """
    proposals = np.asarray(proposals, dtype=bool)
    coarse = np.asarray(coarse, dtype=bool)
    if proposals.ndim != 4 or coarse.ndim != 3 or proposals.shape[0] != coarse.shape[0] \
            or proposals.shape[2:] != coarse.shape[1:]:
        raise ValueError(f"gate expects (N,K,H,W) and (N,H,W) masks, got {proposals.shape} and {coarse.shape}")
    count = coarse.shape[0]
    if count == 0 or proposals.shape[1] == 0:
        return GateDecision(coarse.copy(), np.zeros(count, bool), np.zeros(count), np.full(count, -1))
    iou = mask_iou(proposals, coarse) if iou is None else iou
    index = np.argmax(iou, axis=1)  # first maximum on ties
    best = iou[np.arange(count), index]
    accepted = (best > tau) & coarse.reshape(count, -1).any(axis=1)
    chosen = proposals[np.arange(count), index]
    masks = np.where(accepted[:, None, None], chosen, coarse)
    return GateDecision(masks, accepted, best, index)
