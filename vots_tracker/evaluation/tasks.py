"""``vots-tracker evaluate`` on Ray: one task per (tracker, experiment, sequence), run by the toolkit itself.

Each task loads the workspace in its Ray worker and calls the toolkit's own loop,
``vot.experiment.run_experiment(experiment, tracker, [sequence], force, persist=False)``,
exactly as ``vot evaluate`` does for every sequence (same registry, same working
directory, same tracker runtime): the toolkit starts our TraX tracker and writes its
results in its own format. Only where they are written differs:

* **Staging** (:mod:`.staged`, shared with the sweep). The toolkit writes a sequence's result
  files one after another; the task points the tracker's result storage at
  ``<workspace>/.vots-staging/``, checks the staged results and only then moves the sequence
  folder into ``results/`` by directory renames. An interrupted task leaves its sequence as it
  was, or (in the instant between two renames) absent.
* **Realtime experiments** (``realtime:`` in the stack, :mod:`.realtime`): vot-toolkit 0.9.0's
  realtime runtime lacks ``run()``; the task gives it the toolkit's own online ``run``. A
  sequence with an object that appears after the first frame is refused before any task runs.
* **Resume.** Sequences whose results pass the completeness check are not run (``--force``
  runs them); an incomplete sequence is run again from scratch, all its objects (and
  repetitions) together.
* **Worker hygiene** (what :func:`vots_tracker.evaluation.toolkit.run_vot` does for ``vot``
  subprocesses): dataset downloads are refused, the toolkit's settings (``VOT_*``),
  ``NUMBA_CACHE_DIR`` and a headless matplotlib come from the driver. The update check
  is a ``vot`` CLI step that ``run_experiment`` never makes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from . import outputs, realtime, toolkit
from .distributed import DEFAULT_RETRIES, Summary, Task, check_nodes, ray_session, run_tasks
from .memory_pressure import MemoryPolicy
from .task_memory import tracker_memory
from .staged import STAGING_DIR, clear_staging, staging  # noqa: F401 (STAGING_DIR: where tasks stage)

logger = logging.getLogger(__name__)

TASK_LOG_DIR = toolkit.LOG_DIR / "tasks"
#: The toolkit logs this (with the file name) after writing a crashed tracker's output.
_TRACKER_LOG_MESSAGE = "Tracker output written to file"


@dataclass(frozen=True)
class SequenceTask:
    """What one Ray task evaluates (picklable, paths absolute)."""

    workspace: str
    tracker: str
    experiment: str
    sequence: str
    force: bool = False
    origin: str = ""
    """The workspace's real path when ``workspace`` is its ASCII symlink route (made again on nodes that lack it)."""


# --------------------------------------------------------------------------------------
# driver side
# --------------------------------------------------------------------------------------


def plan_tasks(workspace: Path, trackers: Sequence[str], force: bool = False,
               origin: Optional[Path] = None) -> Tuple[List[Task], int]:
    """One task per (tracker, experiment, sequence) still to run, and how many were complete already.

    Each task declares the memory its tracker's preset needs (:mod:`.task_memory`) where known.
    """
    ws = toolkit.load_workspace(workspace)
    tasks, complete, refused = [], 0, []
    for tracker in trackers:
        trk = outputs.resolve_tracker(ws, tracker)
        memory = tracker_memory(workspace, tracker)
        for experiment in ws.stack:
            for name in ws.dataset.keys():
                transformed = experiment.transform(ws.dataset[name])
                if not force and not any(outputs.sequence_problems(experiment, trk, s) for s in transformed):
                    complete += 1
                    continue
                refused += [problem for s in transformed for problem in realtime.problems(experiment, s)]
                payload = SequenceTask(str(workspace), tracker, experiment.identifier, name, force,
                                       str(origin) if origin and origin != workspace else "")
                frames = sum(len(s) for s in transformed)
                tasks.append(Task(f"{tracker}/{experiment.identifier}/{name}", payload, frames, memory))
    realtime.refuse(list(dict.fromkeys(refused)))
    return tasks, complete


def worker_env(workspace: Path) -> Dict[str, str]:
    """Environment every task sets in its worker: the driver's toolkit settings, as ``vot evaluate`` would see them."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("VOT_", "VOTS_TRACKER_"))}
    env.update({k: v for k, v in toolkit.toolkit_env(workspace, offline=True, base={}).items() if k not in env})
    if "NUMBA_CACHE_DIR" in os.environ:
        env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
    # `vot` appends its --registry (default ".", the workspace: run_vot's working directory) to VOT_REGISTRY.
    env["VOT_REGISTRY"] = os.pathsep.join(os.environ.get("VOT_REGISTRY", "").split(os.pathsep) + ["."])
    return env


def evaluate(
    workspace: os.PathLike,
    trackers: Sequence[str],
    force: bool = False,
    address: Optional[str] = None,
    workers: Optional[int] = None,
    cpus_per_task: Optional[float] = None,
    gpus_per_task: Optional[float] = None,
    retries: int = DEFAULT_RETRIES,
    required_paths: Sequence[os.PathLike] = (),
    memory: Optional[MemoryPolicy] = None,
) -> Tuple[Summary, int]:
    """Run every incomplete (tracker, experiment, sequence) on Ray; return the summary and the count skipped.

    Ray is not started when nothing is left to run. ``memory``: what to do when Ray's memory
    monitor kills a task (:mod:`.memory_pressure`).
    """
    origin = Path(workspace).resolve()
    # libtrax carries ASCII frame paths only: a non-ASCII workspace is reached through a symlink,
    # made here and, by the task, on every other node that runs one (SequenceTask.origin).
    with toolkit.ascii_route(origin) as workspace:
        tasks, complete = plan_tasks(workspace, trackers, force, origin)
        logger.info("%d sequence task(s) to run, %d already complete", len(tasks), complete)
        if not tasks:
            return Summary([]), complete
        with ray_session(address, workers, cpus_per_task, gpus_per_task) as resources:
            logger.info("Ray: %g CPU(s) and %g GPU(s) per task, up to %d at once", resources.cpus_per_task,
                        resources.gpus_per_task, resources.concurrency)
            check_nodes([origin / "config.yaml", origin / "sequences" / "list.txt", *required_paths])
            clear_staging(workspace, trackers)
            summary = run_tasks(tasks, run_sequence, resources, retries, env=worker_env(workspace),
                                description="sequences", memory=memory)
        clear_staging(workspace, trackers)
        return summary, complete


# --------------------------------------------------------------------------------------
# worker side
# --------------------------------------------------------------------------------------

_WORKSPACES: Dict[tuple, object] = {}  # loaded toolkit workspaces, per worker process


def _load_workspace(path: str):
    """The toolkit Workspace, loaded once per worker process (reloaded when its config or registry changes)."""
    import vot.dataset

    def refuse(url, *args, **kwargs):  # the driver fetched the dataset; a worker never downloads
        raise RuntimeError(f"vots-tracker: a Ray task refused to download {url}")

    vot.dataset.download_dataset = refuse
    root = Path(path)
    key = (path,) + tuple(
        (root / name).stat().st_mtime_ns if (root / name).exists() else 0
        for name in ("config.yaml", "trackers.ini", "sequences/list.txt")
    )
    if key not in _WORKSPACES:
        _WORKSPACES.clear()
        _WORKSPACES[key] = toolkit.load_workspace(root)
    return _WORKSPACES[key]


class _TaskLog(logging.Handler):
    """Copies the toolkit's log records into the task's log file and remembers the tracker log it names."""

    def __init__(self, path: Path):
        super().__init__(logging.INFO)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "a", encoding="utf-8")
        self.tracker_log = None

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(_TRACKER_LOG_MESSAGE) and record.args:
            self.tracker_log = str(record.args[0])
        self.file.write(f"{record.levelname} {record.getMessage()}\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        super().close()


def run_sequence(task: SequenceTask) -> Dict[str, object]:
    """Ray task: evaluate one (tracker, experiment, sequence) with the toolkit's runner, staged then published."""
    from vot.experiment import run_experiment
    from vot.tracker import TrackerException

    _route_here(task)
    os.chdir(task.workspace)  # `vot evaluate` runs in the workspace (run_vot's cwd): "." in VOT_REGISTRY
    ws = _load_workspace(task.workspace)
    experiment = ws.stack.experiments[task.experiment]
    sequence = ws.dataset[task.sequence]
    tracker = outputs.resolve_tracker(ws, task.tracker)
    task_log = Path(task.workspace) / TASK_LOG_DIR / task.tracker / task.experiment / f"{task.sequence}.log"
    capture = _TaskLog(task_log)
    vot_logger = logging.getLogger("vot")
    vot_logger.addHandler(capture)
    try:
        with staging(task.workspace, task.tracker, f"{task.experiment}-{task.sequence}") as stage:
            staged = stage.redirect(tracker)
            try:
                run_experiment(realtime.runnable(experiment), staged, [sequence], task.force, False)
            except TrackerException as exc:
                cause = exc.args[1] if len(exc.args) > 1 else exc
                return {"ok": False, "error": f"tracker failed: {cause}", "log": capture.tracker_log or str(task_log)}
            transformed = experiment.transform(sequence)
            problems = stage.problems(experiment, staged, transformed)
            if problems:
                return {"ok": False, "error": "; ".join(problems), "log": str(task_log)}
            stage.publish(tracker, task.experiment, [s.name for s in transformed])
        return {"ok": True}
    finally:
        vot_logger.removeHandler(capture)
        capture.close()


def _route_here(task: SequenceTask) -> None:
    """On a node that lacks it, the ASCII symlink route to the workspace that the driver made on its own node."""
    if not task.origin or os.path.lexists(task.workspace):
        return
    os.makedirs(os.path.dirname(task.workspace), exist_ok=True)
    try:
        os.symlink(task.origin, task.workspace, target_is_directory=True)
    except FileExistsError:  # another task on this node made it first
        pass
    logger.info("made the ASCII route %s -> %s on this node", task.workspace, task.origin)
