"""Per-sequence refinement: prompts from DMAOT masks, one batched decode, gate, re-detection, overlaps."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

from .gate import gate
from .hqsam import FrameEmbedding, HQSamRefiner
from .overlap import resolve_overlaps
from .prompts import clip_box, mask_box, mask_box_inclusive
from .redetect import RedetectOptions, Redetector

logger = logging.getLogger(__name__)


@dataclass
class RefineOptions:
    tau: float = 0.59
    gate: str = "exact"  # one of gate.GATES
    resolve_overlaps: bool = True
    redetect: bool = False
    redetect_options: RedetectOptions = field(default_factory=RedetectOptions)


@dataclass
class ObjectReport:
    """What refinement did to one object on one frame (debug logs, analysis)."""

    accepted: bool
    iou: float
    proposal: Optional[str]
    redetected: bool = False


class RefinementSession:
    """Refinement state of one sequence (re-detection filters); the refiner itself is shared."""

    def __init__(self, refiner: HQSamRefiner, options: Optional[RefineOptions] = None):
        self.refiner = refiner
        self.options = options or RefineOptions()
        self.redetector = Redetector(self.options.redetect_options) if self.options.redetect else None

    def refine(self, emb: FrameEmbedding, coarse: Dict[int, np.ndarray]) -> Tuple[Dict[int, np.ndarray], Dict[int, ObjectReport]]:
        ids = list(coarse)
        final = {i: np.asarray(coarse[i], dtype=bool) for i in ids}
        reports = {i: ObjectReport(False, 0.0, None) for i in ids}
        height, width = emb.original_size

        # Gate: only objects DMAOT still sees; an exact IoU never exceeds 1, so tau >= 1 skips decoding.
        present = [i for i in ids if final[i].any()]
        if present and (self.options.tau < 1.0 or self.options.gate != "exact"):
            stacked = np.stack([final[i] for i in present])
            proposals = self.refiner.propose(emb, self._boxes(stacked, height, width), stacked)
            decision = gate(proposals.masks, stacked, self.options.tau, self.options.gate)
            for n, object_id in enumerate(present):
                index = int(decision.index[n])
                name = proposals.names[index] if index >= 0 else None
                reports[object_id] = ObjectReport(bool(decision.accepted[n]), float(decision.iou[n]), name)
                final[object_id] = decision.masks[n]

        if self.redetector is not None:
            self._redetect(emb, final, reports)

        if self.options.resolve_overlaps and len(ids) > 1:
            resolved = resolve_overlaps(np.stack([final[i] for i in ids]), np.stack([coarse[i] for i in ids]))
            final = {object_id: resolved[n] for n, object_id in enumerate(ids)}

        if self.redetector is not None:
            self.redetector.observe(final)
        for object_id, report in reports.items():
            logger.debug("object %d: accepted=%s iou=%.3f proposal=%s redetected=%s", object_id,
                      report.accepted, report.iou, report.proposal, report.redetected)
        return final, reports

    def _boxes(self, masks: np.ndarray, height: int, width: int) -> np.ndarray:
        if self.refiner.prompt == "box-inclusive":  # the original runners' box, inside the frame by construction
            return np.stack([mask_box_inclusive(mask) for mask in masks])
        return np.stack([clip_box(mask_box(mask), height, width) for mask in masks])

    def _redetect(self, emb: FrameEmbedding, final: Dict[int, np.ndarray], reports: Dict[int, ObjectReport]) -> None:
        lost = self.redetector.lost_boxes(final)
        if not lost:
            return
        lost_ids = list(lost)
        # Lost objects have no mask to prompt with: box prompts only.
        proposals = self.refiner.propose(emb, np.stack([lost[i] for i in lost_ids]), prompt="box")
        # A lost object's own mask is empty, so the pixels of all objects are the "others"
        # for each; an object re-detected here counts for the ones after it.
        claimed = np.logical_or.reduce(list(final.values()))
        for n, object_id in enumerate(lost_ids):
            index = self.redetector.accept(object_id, proposals.masks[n], proposals.scores[n], claimed)
            if index is not None:
                final[object_id] = proposals.masks[n, index]
                claimed = claimed | final[object_id]
                reports[object_id] = ObjectReport(True, 0.0, proposals.names[index], redetected=True)
                logger.info("object %d re-detected (proposal %s)", object_id, proposals.names[index])
