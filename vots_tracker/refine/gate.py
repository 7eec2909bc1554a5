"""The IoU gate: keep a refined proposal only where it agrees with DMAOT.

For each object, the proposal with the highest IoU against the DMAOT mask is
chosen (ties: the first proposal in order wins); it replaces the DMAOT mask only
if that IoU is strictly greater than tau. An empty DMAOT mask is never refined
here (lost objects go through re-detection instead).

Gate rules (`GATES`):
  - ``exact``: IoU = intersection / union;
  - ``smoothed``: the original HQ-SAM-Gate runners' formula, bit for bit (see `smoothed_iou`);
  - ``off``: no test: the first proposal replaces every present object's mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

GATES = ("exact", "smoothed", "off")
SMOOTHING = 1e-6  # the original runners' smoothing term


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


def smoothed_iou(proposals: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The original runners' IoU, (N,K,H,W), (N,H,W) -> (N,K): sum(m*p + 1e-6) / (sum(max(m, p)) + 1e-6).

    The smoothing is added per pixel in the numerator, so it adds 1e-6 per frame pixel
    (0.41 on a 480x854 frame) to the intersection: small objects' IoU is inflated, and can
    exceed 1. Computed as the runners do, one full-frame float64 sum per object and
    proposal, so the value (and every decision) is bitwise theirs.
    """
    values = np.zeros(proposals.shape[:2])
    for n in range(proposals.shape[0]):
        for k in range(proposals.shape[1]):
            inside = (reference[n] & proposals[n, k]) + SMOOTHING  # float64, frame-sized, C order
            values[n, k] = inside.sum() / (np.count_nonzero(reference[n] | proposals[n, k]) + SMOOTHING)
    return values


def gate_iou(proposals: np.ndarray, coarse: np.ndarray, rule: str = "exact") -> np.ndarray:
    """(N, K) the IoU the gate compares with tau under ``rule`` (it does not depend on tau)."""
    return smoothed_iou(proposals, coarse) if rule == "smoothed" else mask_iou(proposals, coarse)


def gate(proposals: np.ndarray, coarse: np.ndarray, tau: float, rule: str = "exact",
         iou: Optional[np.ndarray] = None) -> GateDecision:
    """Select per object among K proposals: (N,K,H,W) bool proposals, (N,H,W) bool DMAOT masks.

    `rule` is one of `GATES`; with ``off`` the reported IoU is the exact one of the first proposal.
    ``iou``: ``gate_iou(proposals, coarse, rule)`` when already computed (a sweep reuses it for every tau).
    """
    if rule not in GATES:
        raise ValueError(f"gate rule must be one of {', '.join(GATES)}, got {rule!r}")
    proposals = np.asarray(proposals, dtype=bool)
    coarse = np.asarray(coarse, dtype=bool)
    if proposals.ndim != 4 or coarse.ndim != 3 or proposals.shape[0] != coarse.shape[0] \
            or proposals.shape[2:] != coarse.shape[1:]:
        raise ValueError(f"gate expects (N,K,H,W) and (N,H,W) masks, got {proposals.shape} and {coarse.shape}")
    count = coarse.shape[0]
    if count == 0 or proposals.shape[1] == 0:
        return GateDecision(coarse.copy(), np.zeros(count, bool), np.zeros(count), np.full(count, -1))
    iou = gate_iou(proposals, coarse, rule) if iou is None else iou
    index = np.zeros(count, int) if rule == "off" else np.argmax(iou, axis=1)  # first maximum on ties
    best = iou[np.arange(count), index]
    present = coarse.reshape(count, -1).any(axis=1)
    accepted = present if rule == "off" else (best > tau) & present
    chosen = proposals[np.arange(count), index]
    masks = np.where(accepted[:, None, None], chosen, coarse)
    return GateDecision(masks, accepted, best, index)
