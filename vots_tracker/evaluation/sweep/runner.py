"""Per-sequence sweep tasks: what a worker loads once, and what it does for one sequence.

A task is (experiment identifier, sequence name). :class:`SequenceSweeper` holds what
a worker needs (the loaded toolkit workspace, the derived trackers, the models) and
:meth:`SequenceSweeper.run` sweeps one sequence: the toolkit's own experiment code
executes every derived tracker on it, all answered by one :class:`SharedPass`, so
each derived tracker's results are written by the toolkit's results storage exactly
as ``vot evaluate`` writes them. They are written into a stage (:mod:`..staged`, as
``evaluate``'s tasks do), checked, and published into ``results/`` by renames; the
sequence's counts file, written last, marks it done (a sequence without it runs again,
all derived trackers together). :func:`run_tasks` is the seam for "run these tasks":
sequential here, with ``evaluate``'s retries; a parallel runner only has to give each
worker its own sweeper.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .. import outputs, toolkit
from ...errors import UserError
from ...media.staging import write_text_atomic
from ..distributed import DEFAULT_RETRIES
from ..staged import staging
from .settings import GateSetting, SweepError
from .shared_pass import SharedPass

logger = logging.getLogger(__name__)

Task = Tuple[str, str]  # (experiment identifier, sequence name)


@dataclass
class Counts:
    """One sequence's gate counts per derived tracker, and the frames whose refinement failed."""

    gate: Dict[str, List[int]]  # derived tracker -> [decisions, accepted]
    failed_frames: List[int] = field(default_factory=list)  # DMAOT's masks kept there, for every setting

    def to_json(self) -> str:
        return json.dumps({"gate": self.gate, "refinement_failed_frames": self.failed_frames}, indent=1)

    @classmethod
    def from_json(cls, text: str, names: Sequence[str]) -> Optional["Counts"]:
        """The stored counts if they cover every derived tracker (None: unreadable, older, or other settings)."""
        try:
            stored = json.loads(text)
            gate, failed = stored["gate"], [int(f) for f in stored["refinement_failed_frames"]]
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(gate, dict) or not all(name in gate for name in names):
            return None
        return cls({name: [int(v) for v in gate[name]] for name in names}, failed)


class SequenceSweeper:
    """Sweeps sequences of one workspace for one base tracker; models load on first use."""

    def __init__(self, workspace: Path, base: str, settings: Sequence[GateSetting], config, out_dir: Path):
        self.workspace = Path(workspace)
        self.base = base
        self.settings = list(settings)
        self.names = [setting.tracker_name(base) for setting in self.settings]
        self.config = config
        self.out_dir = Path(out_dir)
        self.frames: Dict[Task, int] = {}  # sequence lengths, known once tasks() ran
        self._ws = None
        self._derived = None
        self._tracker = None

    def _workspace(self):
        if self._ws is None:
            self._ws = toolkit.load_workspace(self.workspace)
            self._derived = self._ws.registry.resolve(
                *self.names, storage=self._ws.storage.substorage("results"), skip_unknown=False)
        return self._ws

    def tasks(self) -> List[Task]:
        """Every (experiment, sequence) of the stack, as ``vot evaluate`` visits them."""
        from vot.experiment.multirun import UnsupervisedExperiment

        ws = self._workspace()
        tasks = []
        for experiment in ws.stack:
            if not isinstance(experiment, UnsupervisedExperiment) or getattr(experiment, "realtime", None):
                raise SweepError(f"experiment {experiment.identifier!r} is not an unsupervised (non-realtime) "
                                 "experiment: the sweep supports only those (the VOTS stacks' kind)")
            for sequence in ws.dataset:
                for transformed in experiment.transform(sequence):
                    tasks.append((experiment.identifier, transformed.name))
                    self.frames[tasks[-1]] = len(transformed)
        if not tasks:
            raise SweepError(f"{self.workspace}: the stack has no sequences to sweep")
        return tasks

    def _find(self, task: Task):
        ws = self._workspace()
        experiment = next(e for e in ws.stack if e.identifier == task[0])
        for sequence in ws.dataset:
            for transformed in experiment.transform(sequence):
                if transformed.name == task[1]:
                    return experiment, transformed
        raise SweepError(f"sequence {task[1]!r} not found in experiment {task[0]!r}")

    def counts_path(self, task: Task) -> Path:
        return self.out_dir / "counts" / task[0] / f"{task[1]}.json"

    def run(self, task: Task, force: bool = False) -> Counts:
        """Sweep one sequence (unless every derived tracker already has it); returns its counts."""
        experiment, sequence = self._find(task)
        stored = self._stored_counts(task)
        if not force and stored is not None and not any(
                outputs.sequence_problems(experiment, t, sequence) for t in self._derived):
            logger.info("%s/%s: every setting has results already; skipped", *task)
            return stored
        if self._tracker is None:
            from ...server.session import Tracker

            self._tracker = Tracker.from_config(self.config)
        started = time.monotonic()
        with staging(self.workspace, self.base, f"{task[0]}-{task[1]}") as stage:
            staged = [stage.redirect(derived) for derived in self._derived]
            counts = self._pass(experiment, sequence, staged)
            problems = [p for tracker in staged for p in stage.problems(experiment, tracker, [sequence])]
            if problems:
                raise RuntimeError("the toolkit wrote incomplete results: " + "; ".join(problems[:5]))
            path = self.counts_path(task)
            path.unlink(missing_ok=True)  # until the new counts exist the sequence counts as not done
            for derived in self._derived:
                stage.publish(derived, task[0], [sequence.name])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, counts.to_json())  # last: its presence marks the sequence done
        logger.info("%s/%s: %d frames, %d settings in %.1f s%s", task[0], task[1], len(sequence), len(self.names),
                    time.monotonic() - started,
                    f"; refinement failed on frame(s) {counts.failed_frames}" if counts.failed_frames else "")
        return counts

    def _pass(self, experiment, sequence, staged) -> Counts:
        """The toolkit's experiment for every (staged) derived tracker, all answered by one shared pass."""
        from ...server.decision_log import decision_file

        files = [decision_file(self.workspace, name, sequence.name) for name in self.names]
        shared = SharedPass(self._tracker, self.settings, (files, self.names, sequence.name))
        try:
            for index, derived in enumerate(staged):
                # The toolkit's own experiment loop and results storage, with our runtime in place of TraX.
                proxy = copy.copy(derived)
                proxy.runtime = lambda *_args, derived=derived, index=index, **_kwargs: shared.runtime(derived, index)
                experiment.execute(proxy, sequence, force=True)
        finally:
            shared.close()
        decisions, accepted = shared.counts or ([0] * len(self.names), [0] * len(self.names))
        gate = {name: [int(d), int(a)] for name, d, a in zip(self.names, decisions, accepted)}
        return Counts(gate, list(shared.failed_frames))

    def _stored_counts(self, task: Task) -> Optional[Counts]:
        try:
            return Counts.from_json(self.counts_path(task).read_text(encoding="utf-8"), self.names)
        except OSError:
            return None


def run_tasks(sweeper: SequenceSweeper, tasks: Sequence[Task], force: bool = False,
              retries: int = DEFAULT_RETRIES) -> Dict[Task, Counts]:
    """Run every task in this process, one after another, each retried up to ``retries`` times as in
    ``evaluate``; a sequence that still fails does not stop the others (it has no counts here, and the
    completeness check afterwards names its missing results)."""
    counts = {}
    for task in tasks:
        for attempt in range(1, retries + 2):
            try:
                counts[task] = sweeper.run(task, force=force)
                break
            except UserError:  # bad input (a missing checkpoint, an unknown sequence): one line, no retry
                raise
            except Exception as exc:  # like `vot evaluate --persist`: log it, go on with the other sequences
                if attempt <= retries:
                    logger.warning("%s/%s failed (attempt %d of %d), retrying: %s: %s", *task, attempt, retries + 1,
                                   type(exc).__name__, exc)
                else:
                    logger.exception("%s/%s: the sweep failed on this sequence after %d attempt(s)", *task, attempt)
    return counts
