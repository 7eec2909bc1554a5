"""One tracking pass per sequence that serves every gate setting.

Without the cycle prior and re-detection nothing that is tracked depends on the gate:
DMAOT's memory holds its own predictions and HQ-SAM's proposals depend only on the
frame and DMAOT's masks. :class:`SweepSession` is a :class:`TrackingSession` whose
frame step propagates and proposes once (every proposal set from one decoder pass),
then runs the tracker's own pure steps per setting: :func:`apply_gate`,
:func:`settle_overlaps` and :func:`claim_new_objects`. A frame whose refinement fails
goes through the tracker's own fault policy (:class:`RefinementFaults`): DMAOT's masks
for every setting, counted, and refinement off after too many failures in a row. A derived tracker run on its own executes
the same functions on the same numbers, so its masks are identical bit for bit.

:class:`SharedPass` turns the pass into VOT toolkit runtimes: the toolkit's own
experiment code drives every derived tracker (and writes its results), and the first
runtime to ask for a frame computes it for all of them. Requests go through the
server's own request handling (:class:`TraxLoop`) and the toolkit's own TraX
conversions, as in ``vot evaluate``, only without the process boundary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from vot.tracker import OnlineTrackerRuntime

from ...server.decision_log import DecisionLog, frame_record, header
from ...server.protocol import TraxLoop
from ...server.session import FrameTiming, Tracker, TrackingSession, claim_new_objects
from .settings import GateSetting

logger = logging.getLogger(__name__)


class SweepSession(TrackingSession):
    """One sequence, tracked once; :meth:`step` returns the masks of every setting, in order."""

    def __init__(self, tracker: Tracker, settings: Sequence[GateSetting]):
        super().__init__(tracker)
        if self.refinement is None or self.config.cycle or self.config.redetect:
            raise ValueError("a sweep needs refinement without the cycle prior and re-detection")
        self.settings = list(settings)
        tokens = [tracker.refiner.tokens_for(s.proposals or self.config.proposals) for s in self.settings]
        self.name_sets = list(dict.fromkeys(tokens))
        self._set_of = [self.name_sets.index(t) for t in tokens]
        self.decisions = np.zeros(len(self.settings), dtype=np.int64)  # objects gated, summed over frames
        self.accepted = np.zeros(len(self.settings), dtype=np.int64)  # of which a proposal was kept
        self.setting_logs: List[Optional[DecisionLog]] = [None] * len(self.settings)

    def keep_setting_decisions(self, paths: Sequence[Path], trackers: Sequence[str], sequence: str) -> None:
        """Each setting's gate decisions in its own file, as its derived tracker's `serve` would write them
        (none for a setting whose tracker does not refine: tau >= 1 with the exact gate)."""
        self.setting_logs = [
            DecisionLog(path, header(tracker, sequence, setting.tau, self.refinement.options.gate,
                                     setting.proposals or self.config.proposals))
            if replace(self.config, tau=setting.tau).refine else None
            for path, tracker, setting in zip(paths, trackers, self.settings)]

    def step(self, frame: np.ndarray, new_objects=None) -> List[Dict[int, np.ndarray]]:
        first = self.frame_index < 0
        result = super().step(frame, new_objects)
        if first:  # the given masks, for every setting
            for log in filter(None, self.setting_logs):
                log.write(frame_record(0, self.object_ids, result, {}, (), self.object_ids))
        return [result] * len(self.settings) if first else result

    def _track(self, frame: np.ndarray, new_objects: Dict[int, np.ndarray], timing: FrameTiming):
        coarse, pending = self._propagate(frame, timing)
        fault = "off" if pending is None else None  # refinement turned off after repeated faults
        gated = None
        if pending is not None:  # refining: a failure keeps DMAOT's masks, as TrackingSession's frame step does
            gated = self.faults.attempt(self.frame_index, len(coarse),
                                        lambda: self._gate_all(frame, coarse, pending, new_objects, timing))
            fault = "failed" if gated is None else None
        if gated is None:  # not refining or failed: DMAOT's masks for every setting, no gate reports
            finals, keys = {None: claim_new_objects(coarse, new_objects)}, [None] * len(self.settings)
            reports = [{}] * len(self.settings)
        else:
            finals, keys, reports, decisions, accepted = gated
            self.decisions += decisions  # counted only for frames whose refinement succeeded
            self.accepted += accepted
        self._add_objects(new_objects)
        self._update_memory(None, timing)  # DMAOT's own prediction: the pass does not depend on the gate
        present = [i for i in coarse if np.asarray(coarse[i]).any()]
        for log, key, report in zip(self.setting_logs, keys, reports):  # after _add_objects: arrivals listed too
            if log is not None:
                log.write(frame_record(self.frame_index, self.object_ids, finals[key], report, present,
                                       new_objects, fault))
        ordered = {key: {object_id: final[object_id] for object_id in self.object_ids} for key, final in finals.items()}
        return [ordered[key] for key in keys]

    def _gate_all(self, frame, coarse, pending, new_objects, timing):
        """Propose once, then gate, settle and claim per setting: (finals by key, key per setting,
        reports per setting, counts).

        May raise (HQ-SAM): the caller's fault policy keeps DMAOT's masks then. Pure apart from the
        embedding, so a retry after an out-of-memory computes the same.
        """
        from ...refine.stage import apply_gate, settle_overlaps

        embedding = self._take_embedding(frame, pending, timing)
        t0 = time.perf_counter()
        proposed = self.refinement.propose(embedding, coarse, self.name_sets)
        finals: Dict[tuple, Dict[int, np.ndarray]] = {}
        keys, all_reports = [], []
        decisions = np.zeros_like(self.decisions)
        accepted_counts = np.zeros_like(self.accepted)
        for n, setting in enumerate(self.settings):
            candidates = proposed[self._set_of[n]]
            gated, reports = apply_gate(coarse, candidates, setting.tau, self.refinement.options.gate)
            accepted = tuple(report.accepted for report in reports.values())
            decisions[n] += len(candidates.present)
            accepted_counts[n] += sum(accepted)
            # What follows the gate depends on tau only through which proposals it accepted:
            # settings that agree on this frame share one result (and one reply to the toolkit).
            keys.append((self._set_of[n], accepted))
            all_reports.append(reports)
            if keys[-1] not in finals:
                settled = settle_overlaps(gated, coarse, self.config.resolve_overlaps)
                finals[keys[-1]] = claim_new_objects(settled, new_objects)
        timing.refine = time.perf_counter() - t0
        return finals, keys, all_reports, decisions, accepted_counts

    def close(self) -> None:
        for log in filter(None, self.setting_logs):
            log.close()
        super().close()


class _SweepTracker:
    """What :class:`TraxLoop` needs of a tracker: sessions, here sweep sessions."""

    def __init__(self, tracker: Tracker, settings: Sequence[GateSetting], decisions=None):
        self.tracker = tracker
        self.settings = list(settings)
        self.decisions = decisions  # (paths, derived tracker names, sequence) or None

    def new_session(self) -> SweepSession:
        session = SweepSession(self.tracker, self.settings)
        if self.decisions is not None:
            session.keep_setting_decisions(*self.decisions)
        return session


class _SweepLoop(TraxLoop):
    """The server's request handling; replies stay masks (per setting) until a runtime asks for them."""

    @staticmethod
    def _reply(per_setting: List[Dict[int, np.ndarray]]) -> List[Dict[int, np.ndarray]]:
        return per_setting

    def _keep_decisions(self, frame_path: str) -> None:
        pass  # one file per setting instead, opened by the session (see SweepSession.keep_setting_decisions)


@dataclass(frozen=True)
class PackedMask:
    """A mask kept between the pass and the toolkit's requests: its bounding box, bit-packed."""

    shape: Tuple[int, int]
    box: Tuple[int, int, int, int]  # y0, y1, x0, x1 (empty mask: all zero)
    bits: bytes

    @classmethod
    def pack(cls, mask: np.ndarray) -> "PackedMask":
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1) if rows.size else (0, 0, 0, 0)
        return cls(tuple(mask.shape), box, np.packbits(mask[box[0]:box[1], box[2]:box[3]]).tobytes())

    def unpack(self) -> np.ndarray:
        y0, y1, x0, x1 = self.box
        mask = np.zeros(self.shape, dtype=bool)
        count = (y1 - y0) * (x1 - x0)
        bits = np.unpackbits(np.frombuffer(self.bits, dtype=np.uint8), count=count).astype(bool)
        mask[y0:y1, x0:x1] = bits.reshape(y1 - y0, x1 - x0)
        return mask


class SharedPass:
    """One sequence's pass, computed on demand by the first runtime that asks for a frame.

    Every frame's masks are kept, bit-packed and shared between settings that agree on an
    object, until every derived tracker has been run: for a long sequence that is the
    toolkit's own trajectory size divided by eight, not one trajectory per setting.
    """

    def __init__(self, tracker: Tracker, settings: Sequence[GateSetting], decisions=None):
        """``decisions``: (one decision file per setting, the derived trackers' names, the sequence's name)."""
        self.settings = list(settings)
        self._loop = _SweepLoop(_SweepTracker(tracker, settings, decisions))
        self._frames: List[List[List[PackedMask]]] = []  # frame -> setting -> objects in arrival order
        self._times: List[float] = []  # frame -> seconds the shared pass spent on it
        self.counts: Optional[Tuple[List[int], List[int]]] = None
        self.failed_frames: List[int] = []  # frames whose refinement failed: DMAOT's masks for every setting

    def reply(self, index: int, frame, new, setting: int):
        """(the setting's objects on frame ``index``, the pass's time for it), as a TraX runtime returns them."""
        from vot.tracker import ObjectStatus
        from vot.tracker.trax import convert_traxregion

        if index == len(self._frames):
            self._compute(index, frame, new)
        elif index > len(self._frames):
            raise RuntimeError(f"frame {index} requested before frame {len(self._frames)}")
        masks = {n: packed.unpack() for n, packed in enumerate(self._frames[index][setting])}
        # The server's reply, then the toolkit client's conversion of it, as over TraX.
        return [ObjectStatus(convert_traxregion(region), properties)
                for region, properties in TraxLoop._reply(masks)], self._times[index]

    def _compute(self, index: int, frame, new) -> None:
        from vot.tracker.trax import convert_frame, convert_objects

        images = convert_frame(frame, ["color"])  # the channel the server declares
        objects = convert_objects(new) if new else []
        started = time.time()
        if index == 0:
            per_setting = self._loop.initialize(images, objects)
        else:
            per_setting = self._loop.frame(images, objects)
        self._times.append(time.time() - started)
        by_array: Dict[int, PackedMask] = {}  # settings that share a result share its arrays
        by_content: Dict[Tuple, PackedMask] = {}  # one copy of each distinct (object, mask) on this frame
        packed_frame = []
        for masks in per_setting:
            packed_frame.append([])
            for n, mask in enumerate(masks.values()):
                if id(mask) not in by_array:
                    packed = PackedMask.pack(mask)
                    by_array[id(mask)] = by_content.setdefault((n, packed.box, packed.bits), packed)
                packed_frame[-1].append(by_array[id(mask)])
        self._frames.append(packed_frame)
        session = self._loop.session
        self.counts = (session.decisions.tolist(), session.accepted.tolist())
        self.failed_frames = list(session.faults.failed_frames)

    def runtime(self, tracker, setting: int):
        """A toolkit runtime for derived tracker ``tracker`` that answers with setting ``setting``."""
        return _SettingRuntime(tracker, self, setting)

    def close(self) -> None:
        self._loop.close()


class _SettingRuntime(OnlineTrackerRuntime):
    """An online, multi-object toolkit runtime whose answers come from the shared pass."""

    def __init__(self, tracker, shared: SharedPass, setting: int):
        super().__init__(tracker)
        self._shared = shared
        self._setting = setting
        self._frame = -1

    @property
    def multiobject(self) -> bool:
        return True

    def initialize(self, frame, new=None):
        self._frame = 0
        return self._shared.reply(0, frame, new, self._setting)

    def update(self, frame, new=None):
        self._frame += 1
        return self._shared.reply(self._frame, frame, new, self._setting)

    def stop(self) -> None:
        pass

    def restart(self) -> None:
        pass
