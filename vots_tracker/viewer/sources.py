"""What ``vots-tracker show`` reads from a workspace: sequences and the masks the toolkit stored.

Everything goes through the toolkit's own code: the workspace and its stack
(:func:`~vots_tracker.evaluation.toolkit.load_workspace`), the experiment's results storage,
``Trajectory.read`` for the stored regions and the toolkit's ``MultiObjectHelper`` for the order
in which objects reached the tracker (a decision file's ids are that arrival order, 1-based).
Masks are rasterised one frame at a time, so a long sequence never sits in memory as pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError
from ..evaluation import outputs as toolkit_results
from ..evaluation import toolkit
from ..server.decision_log import DecisionFileError, Decisions, decision_file, mask_digest, read_decisions

logger = logging.getLogger(__name__)


class ShowError(UserError):
    """``show`` cannot do what was asked; the message names the problem."""


def display_id(name: str, arrival: int) -> int:
    """The number drawn for an object (and its palette colour): its toolkit id when numeric."""
    return int(name) if str(name).isdigit() else arrival


@dataclass
class StoredMasks:
    """One tracker's stored result for one sequence: regions per object, rasterised on demand."""

    tracker: str
    sequence: object  # the toolkit Sequence
    names: List[str]  # toolkit object ids in arrival order (arrival k is names[k - 1])
    trajectories: Dict[str, object]  # name -> toolkit Trajectory

    def frame(self, index: int) -> Dict[int, np.ndarray]:
        """display id -> boolean mask of the frame; the initialisation frame shows the given masks."""
        from vot.region import Special

        width, height = self.sequence.size
        out = {}
        for arrival, name in enumerate(self.names, 1):
            region = self.trajectories[name].region(index)
            if isinstance(region, Special):  # the toolkit marks initialisation: the given (ground-truth) mask
                region = self.sequence.object(name, index)
            out[display_id(name, arrival)] = _raster(region, width, height)
        return out

    def by_arrival(self, index: int) -> Dict[int, np.ndarray]:
        """arrival id (as in decision files) -> the stored mask; frames the toolkit marks as
        initialisation are left out (their stored entry is no mask)."""
        from vot.region import Special

        width, height = self.sequence.size
        out = {}
        for arrival, name in enumerate(self.names, 1):
            region = self.trajectories[name].region(index)
            if not isinstance(region, Special):
                out[arrival] = _raster(region, width, height)
        return out


def _raster(region, width: int, height: int) -> np.ndarray:
    from vot.region import Special

    if region is None or isinstance(region, Special):
        return np.zeros((height, width), bool)
    return np.asarray(region.rasterize((0, 0, width - 1, height - 1)), dtype=bool)


class WorkspaceView:
    """A loaded toolkit workspace and the experiment whose results are shown."""

    def __init__(self, workspace: Path, experiment: Optional[str] = None):
        self.path = Path(workspace).expanduser().resolve()
        if not (self.path / "config.yaml").is_file():
            raise ShowError(f"{self.path} is not a toolkit workspace (no config.yaml)")
        self.ws = toolkit.load_workspace(self.path)
        experiments = list(self.ws.stack)
        if not experiments:
            raise ShowError(f"{self.path}: the stack defines no experiment")
        names = [e.identifier for e in experiments]
        if experiment is not None and experiment not in names:
            raise ShowError(f"experiment {experiment!r} is not in the stack (has: {', '.join(names)})")
        self.experiment = experiments[names.index(experiment)] if experiment else experiments[0]
        self._decisions: Dict[Tuple[str, str], Optional[Decisions]] = {}

    def tracker(self, name: str):
        return toolkit_results.resolve_tracker(self.ws, name)

    def sequences(self, wanted: Optional[Sequence[str]] = None) -> List[object]:
        """The experiment's sequences, all or the named ones (an unknown name is an error)."""
        available = {s.name: s for s in self.experiment.transform(self.ws.dataset)}
        if not wanted:
            return list(available.values())
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise ShowError(f"no sequence {', '.join(map(repr, unknown))} in {self.path / 'sequences'}")
        return [available[name] for name in wanted]

    def stored(self, tracker, sequence) -> Optional[StoredMasks]:
        """The tracker's stored masks for the sequence (repetition 1), or None when it has none."""
        from vot.experiment.helpers import MultiObjectHelper
        from vot.tracker import Trajectory

        results = self.experiment.results(tracker, sequence)
        names = [str(n) for n in MultiObjectHelper(sequence).all()]
        multiobject = len(names) > 1
        trajectories = {}
        for name in names:
            stem = f"{sequence.name}_{name}_001" if multiobject else f"{sequence.name}_001"
            if not Trajectory.exists(results, stem):
                return None
            trajectory = Trajectory.read(results, stem)
            if len(trajectory) != len(sequence):
                logger.warning("%s/%s: object %s has %d stored frames, the sequence %d; not shown",
                               tracker.identifier, sequence.name, name, len(trajectory), len(sequence))
                return None
            trajectories[name] = trajectory
        return StoredMasks(tracker.identifier, sequence, names, trajectories)

    def decisions(self, tracker: str, sequence: str) -> Optional[Decisions]:
        """The tracker's gate decisions for the sequence, or None (no file, or one that cannot be read: said once)."""
        key = (tracker, sequence)
        if key not in self._decisions:
            self._decisions[key] = self._read_decisions(decision_file(self.path, tracker, sequence))
        return self._decisions[key]

    @staticmethod
    def _read_decisions(path: Path) -> Optional[Decisions]:
        if not path.is_file():
            return None
        try:
            decisions = read_decisions(path)
        except (OSError, DecisionFileError) as error:
            logger.warning("%s", error)
            return None
        if decisions.torn:
            logger.warning("%s: the run stopped mid-write (%s); shown up to its last complete line", path, decisions.torn)
        return decisions

    def trackers_with_decisions(self) -> List[str]:
        folder = decision_file(self.path, "_", "_").parent.parent
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def digest_mismatches(stored: StoredMasks, decisions: Decisions) -> List[str]:
    """Where a decision file disagrees with the stored masks: '<frame>:<arrival id>' for each
    mask whose CRC differs, and each stored frame the file does not cover."""
    bad = []
    for index in range(len(stored.sequence)):
        masks = stored.by_arrival(index)
        record = decisions.frames.get(index)
        if not masks:
            continue
        if record is None:
            bad.append(f"{index}:missing")
            continue
        height = stored.sequence.size[1]
        for arrival, mask in masks.items():
            if arrival in record["ids"]:
                n = record["ids"].index(arrival)
                if record["crc"][n] != mask_digest(mask) and not _dropped_by_toolkit(mask, record["area"][n], height):
                    bad.append(f"{index}:{arrival}")
            elif mask.any():  # listed in the results before the tracker knew it: cannot be
                bad.append(f"{index}:{arrival}")
    return bad


def _dropped_by_toolkit(stored: np.ndarray, area: int, height: int) -> bool:
    """A reply one column wide at the frame's left edge is stored empty by the toolkit (see
    ``server.protocol.mask_to_region``); such a mask has at most ``height`` pixels."""
    return 0 < area <= height and not stored.any()
