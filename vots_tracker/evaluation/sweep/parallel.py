"""Sweep sequences on Ray, through the distributed runner of ``vots-tracker evaluate``.

One Ray task per (experiment, sequence); a worker process keeps its :class:`SequenceSweeper`
(the loaded workspace and models) for the tasks it runs after the first. Every task writes
only its own sequence's results (all derived trackers) and gate counts, so tasks never touch
the same files; the driver then checks completeness as in the sequential case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from ..distributed import DEFAULT_RETRIES, check_nodes, ray_session
from ..distributed import Task as RayTask
from ..distributed import run_tasks as run_ray_tasks
from ..memory_pressure import MemoryPolicy
from .runner import Counts, SequenceSweeper, Task
from .settings import GateSetting

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepPayload:
    """What a Ray worker needs to sweep one sequence (picklable)."""

    workspace: str
    base: str
    settings: Tuple[GateSetting, ...]
    config: object  # TrackerConfig
    out_dir: str
    task: Task
    force: bool


_SWEEPERS: Dict[tuple, SequenceSweeper] = {}  # per worker process: models load once


def sweep_sequence(payload: SweepPayload) -> Dict[str, object]:
    """Ray task: sweep one sequence; the outcome carries its gate counts."""
    key = (payload.workspace, payload.base, payload.settings, payload.out_dir)
    if key not in _SWEEPERS:
        _SWEEPERS.clear()  # another sweep's models: free them first
        _SWEEPERS[key] = SequenceSweeper(Path(payload.workspace), payload.base, payload.settings, payload.config,
                                         Path(payload.out_dir))
    counts = _SWEEPERS[key].run(payload.task, force=payload.force)
    return {"ok": True, "counts": counts}


@dataclass(frozen=True)
class RayOptions:
    """Where the sequences run: ``vots-tracker evaluate``'s Ray options."""

    workers: Optional[int] = None
    address: Optional[str] = None
    gpus_per_task: Optional[float] = None
    cpus_per_task: Optional[float] = None
    retries: int = DEFAULT_RETRIES
    memory: Optional[MemoryPolicy] = None
    """Tasks killed by Ray's memory monitor (:mod:`..memory_pressure`)."""


def run_on_ray(sweeper: SequenceSweeper, tasks: Sequence[Task], force: bool, options: RayOptions) -> Dict[Task, Counts]:
    """Every task as a Ray task; failed sequences are logged and left out (the completeness check names them)."""
    from ..entries import entry_checkpoints
    from ..tasks import worker_env

    payloads = [
        RayTask(f"{task[0]}/{task[1]}", SweepPayload(str(sweeper.workspace), sweeper.base, tuple(sweeper.settings),
                                                     sweeper.config, str(sweeper.out_dir), task, force),
                sweeper.frames.get(task, 0))
        for task in tasks
    ]
    with ray_session(options.address, options.workers, options.cpus_per_task, options.gpus_per_task) as resources:
        logger.info("Ray: %g CPU(s) and %g GPU(s) per sequence, up to %d at once", resources.cpus_per_task,
                    resources.gpus_per_task, resources.concurrency)
        check_nodes([sweeper.workspace / "config.yaml", sweeper.workspace / "sequences" / "list.txt",
                     *entry_checkpoints(sweeper.workspace, sweeper.base)])
        summary = run_ray_tasks(payloads, sweep_sequence, resources, options.retries,
                                env=worker_env(sweeper.workspace), description="sequences",
                                memory=options.memory)
    for line in summary.lines():
        (logger.error if line.startswith("failed") else logger.info)("%s", line)
    by_key = {f"{task[0]}/{task[1]}": task for task in tasks}
    return {by_key[o.key]: o.result["counts"] for o in summary.outcomes if o.ok}
