"""Per-sequence refinement: prompts from DMAOT masks, one batched decode, gate, re-detection, overlaps."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .gate import gate, gate_iou
from .hqsam import FrameEmbedding, HQSamRefiner, Proposals
from .overlap import resolve_overlaps
from .prompts import prompt_boxes
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


@dataclass
class FrameProposals:
    """Every proposal for the objects DMAOT still sees on one frame: what the gate chooses from."""

    present: List[int]  # ids of the objects with a non-empty DMAOT mask, in arrival order
    coarse: np.ndarray  # (N, H, W) their DMAOT masks
    proposals: Proposals  # (N, K, H, W)
    _iou: Dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def iou(self, rule: str) -> np.ndarray:
        """(N, K) the gate's IoU of each proposal with its DMAOT mask: computed once per rule, whatever tau asks."""
        if rule not in self._iou:
            self._iou[rule] = gate_iou(self.proposals.masks, self.coarse, rule)
        return self._iou[rule]


def apply_gate(coarse: Dict[int, np.ndarray], proposed: Optional[FrameProposals], tau: float,
               rule: str = "exact") -> Tuple[Dict[int, np.ndarray], Dict[int, ObjectReport]]:
    """Per object, the gate's choice between its DMAOT mask and its proposals (pure)."""
    final = {i: np.asarray(coarse[i], dtype=bool) for i in coarse}
    reports = {i: ObjectReport(False, 0.0, None) for i in coarse}
    if proposed is None or not proposed.present:
        return final, reports
    decision = gate(proposed.proposals.masks, proposed.coarse, tau, rule, iou=proposed.iou(rule))
    for n, object_id in enumerate(proposed.present):
        index = int(decision.index[n])
        name = proposed.proposals.names[index] if index >= 0 else None
        reports[object_id] = ObjectReport(bool(decision.accepted[n]), float(decision.iou[n]), name)
        final[object_id] = decision.masks[n]
    return final, reports


def settle_overlaps(final: Dict[int, np.ndarray], coarse: Dict[int, np.ndarray], enabled: bool) -> Dict[int, np.ndarray]:
    """Overlap resolution over all objects (when enabled), DMAOT's masks breaking ties (pure).

    With :func:`apply_gate` before it, this is refinement without re-detection: what
    :meth:`RefinementSession.refine` runs, and what `vots-tracker sweep` runs per setting
    on proposals computed once (see :meth:`RefinementSession.propose`).
    """
    ids = list(final)
    if not enabled or len(ids) < 2:
        return final
    resolved = resolve_overlaps(np.stack([final[i] for i in ids]), np.stack([coarse[i] for i in ids]))
    return {object_id: resolved[n] for n, object_id in enumerate(ids)}


class RefinementSession:
    """Refinement state of one sequence (re-detection filters); the refiner itself is shared."""

    def __init__(self, refiner: HQSamRefiner, options: Optional[RefineOptions] = None):
        self.refiner = refiner
        self.options = options or RefineOptions()
        self.redetector = Redetector(self.options.redetect_options) if self.options.redetect else None

    def propose(self, emb: FrameEmbedding, coarse: Dict[int, np.ndarray],
                name_sets: Optional[Sequence[Tuple[str, ...]]] = None) -> List[FrameProposals]:
        """Proposals for every object DMAOT still sees, one :class:`FrameProposals` per proposal set
        (default: the refiner's own), all from one decoder pass."""
        name_sets = list(name_sets or [self.refiner.names])
        present = [i for i in coarse if np.asarray(coarse[i]).any()]
        height, width = emb.original_size
        stacked = np.zeros((len(present), height, width), bool)
        for n, object_id in enumerate(present):
            stacked[n] = coarse[object_id]
        boxes = prompt_boxes(stacked, self.refiner.prompt)
        sets = self.refiner.propose_sets(emb, boxes, stacked, name_sets=name_sets)
        return [FrameProposals(present, stacked, proposals) for proposals in sets]

    def refine(self, emb: FrameEmbedding, coarse: Dict[int, np.ndarray]) -> Tuple[Dict[int, np.ndarray], Dict[int, ObjectReport]]:
        # Only objects DMAOT still sees are gated; an exact IoU never exceeds 1, so tau >= 1 skips decoding.
        decodes = self.options.tau < 1.0 or self.options.gate != "exact"
        proposed = self.propose(emb, coarse)[0] if decodes else None
        final, reports = apply_gate(coarse, proposed, self.options.tau, self.options.gate)
        if self.redetector is not None:
            self._redetect(emb, final, reports)
        final = settle_overlaps(final, coarse, self.options.resolve_overlaps)

        if self.redetector is not None:
            self.redetector.observe(final)
        for object_id, report in reports.items():
            logger.debug("object %d: accepted=%s iou=%.3f proposal=%s redetected=%s", object_id,
                      report.accepted, report.iou, report.proposal, report.redetected)
        return final, reports

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
            if proposals.present is not None and not proposals.present[n]:
                continue  # SAM 2.1's own object score says nothing is in the predicted box
            index = self.redetector.accept(object_id, proposals.masks[n], proposals.scores[n], claimed)
            if index is not None:
                final[object_id] = proposals.masks[n, index]
                claimed = claimed | final[object_id]
                reports[object_id] = ObjectReport(True, 0.0, proposals.names[index], redetected=True)
                logger.info("object %d re-detected (proposal %s)", object_id, proposals.names[index])
