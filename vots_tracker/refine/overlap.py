"""Overlap resolution: after refinement every pixel belongs to at most one object.

Rule, for a pixel claimed by several objects:
  1. it goes to the claimant whose DMAOT mask contains it (DMAOT's label map is
     exclusive, so this settles most conflicts the way the propagator saw them);
  2. otherwise (several or none of the claimants' DMAOT masks contain it) to the
     claimant with the smallest mask, since refinement tends to let large masks
     swallow small neighbours; ties go to the earlier-arrived object.
"""

from __future__ import annotations

import numpy as np


def resolve_overlaps(masks: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """(N,H,W) final masks and (N,H,W) DMAOT masks -> (N,H,W) masks with no shared pixel."""
    masks = np.asarray(masks, dtype=bool)
    count = masks.shape[0]
    if count < 2:
        return masks.copy()
    claims = masks.sum(axis=0)
    rows, cols = np.nonzero(claims > 1)
    if rows.size == 0:
        return masks.copy()
    areas = masks.reshape(count, -1).sum(axis=1)
    # Smaller area first, then arrival order: a rank per object.
    rank = np.empty(count, dtype=np.int64)
    rank[np.lexsort((np.arange(count), areas))] = np.arange(count)
    claimant = masks[:, rows, cols]  # (N, P)
    in_coarse = np.asarray(coarse, dtype=bool)[:, rows, cols] & claimant
    # Cost: not-a-claimant is never chosen; claimants inside their DMAOT mask beat those outside
    # only where exactly one claimant's DMAOT mask holds the pixel (rule 1), else rank decides.
    unique_coarse = in_coarse.sum(axis=0) == 1
    cost = rank[:, None] + np.where(in_coarse & unique_coarse[None, :], -2 * count, 0)
    cost = np.where(claimant, cost, np.iinfo(np.int64).max)
    winner = np.argmin(cost, axis=0)
    resolved = masks.copy()
    resolved[:, rows, cols] = False
    resolved[winner, rows, cols] = True
    return resolved
