"""Run many independent tasks on Ray: local by default, or on an existing cluster.

The generic half of ``vots-tracker evaluate``'s distributed runner (the toolkit half is
:mod:`vots_tracker.evaluation.tasks`), usable by anything that splits work into
picklable task descriptions::

    with ray_session(address=None, workers=2, cpus_per_task=1) as resources:
        check_nodes([workspace, weights_dir])
        summary = run_tasks([Task("seq-a", payload_a, frames=120), ...], my_function, resources, retries=2)

``my_function(payload)`` runs in a Ray worker and returns a dict; ``{"ok": False,
"error": ..., "log": ...}`` marks a failure, anything else a success (its dict is kept in
the outcome). A failure, an exception or a dead worker (killed process, lost node) is
retried up to ``retries`` times, each retry a fresh Ray task; the remaining tasks always
finish. A task killed by Ray's memory monitor is retried apart, after a back-off and with
fewer tasks at once (:mod:`.memory_pressure`). A task may declare the memory it needs
(``Task.memory``, bytes), which Ray then reserves on the node that runs it. Heaviest tasks (``frames``) run first. Progress: one tqdm bar on stderr
(done/total, aggregate frames per second, ETA by frames), one INFO line per finished task.

Threads: every task gets ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to its CPU
count (at least 1; what Ray itself does for a whole number of CPUs), inherited by any
process the task starts. torch sizes its intra-op pool from ``OMP_NUM_THREADS``.
GPUs: ``CUDA_VISIBLE_DEVICES`` is set to the GPU ids Ray assigned to the task (empty when
it asked for none), so a task sees exactly its share.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from ..errors import UserError
from .memory_pressure import MemoryPolicy, Throttle, is_oom, killed_node, node_memory, oom_report
from .progress import Progress
from .ray_join import check_nodes  # noqa: F401  (part of this module's interface)

logger = logging.getLogger(__name__)

#: Re-runs of a failed task (its function failed, raised, or its worker died).
DEFAULT_RETRIES = 2
#: Ray's object store only carries small task descriptions and outcomes here.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


@dataclass
class Task:
    key: str
    """Unique, human-readable name (logs, summary)."""
    payload: Any
    """Argument of the task function (picklable)."""
    frames: int = 0
    """Work size: heaviest first; frames per second in the progress bar."""
    memory: int = 0
    """Bytes of memory declared to Ray for the task (0: none declared)."""


@dataclass
class Resources:
    cpus_per_task: float
    gpus_per_task: float
    concurrency: int
    """How many tasks the cluster can run at once with these resources."""


@dataclass
class Outcome:
    key: str
    ok: bool
    frames: int = 0
    seconds: float = 0.0
    worker: str = ""
    attempts: int = 0
    error: str = ""
    log: Optional[str] = None
    result: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Summary:
    outcomes: List[Outcome]
    retries: int = 0
    worker_deaths: int = 0
    seconds: float = 0.0
    memory_kills: int = 0

    @property
    def failed(self) -> List[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def lines(self) -> List[str]:
        """``key: value`` lines for the job's stdout."""
        done = len(self.outcomes) - len(self.failed)
        frames = sum(o.frames for o in self.outcomes if o.ok)
        out = [
            f"tasks: {len(self.outcomes)} run, {done} succeeded, {len(self.failed)} failed, "
            f"{self.retries} retried, {self.worker_deaths} worker death(s), {self.memory_kills} killed for memory, "
            f"{frames} frames in {self.seconds:.0f} s"
        ]
        for o in self.failed:
            out.append(f"failed: {o.key} after {o.attempts} attempt(s): {o.error}" + (f"; log: {o.log}" if o.log else ""))
        return out


# --------------------------------------------------------------------------------------
# Ray session and resources
# --------------------------------------------------------------------------------------


def _import_ray():
    try:
        import ray
    except ImportError as exc:  # a runtime dependency; only a broken install lacks it
        raise UserError(f"the distributed runner needs Ray (`pip install ray`): {exc}") from exc
    return ray


def local_gpu_count() -> int:
    """GPUs this process may use (CUDA_VISIBLE_DEVICES respected)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@contextlib.contextmanager
def ray_session(
    address: Optional[str] = None,
    workers: Optional[int] = None,
    cpus_per_task: Optional[float] = None,
    gpus_per_task: Optional[float] = None,
) -> Iterator[Resources]:
    """Connect to Ray for the duration of the block and resolve the per-task resources.

    ``address`` None: a new local Ray instance of our own (never one found on the machine) with
    ``workers`` concurrent tasks (default one per visible GPU, else 1), stopped at the end. ``address`` ``auto`` or ``HOST:PORT``: join that
    cluster. An already initialised Ray (e.g. a test's) is used as is and left running.
    Defaults: ``gpus_per_task`` 1 where GPUs exist, else 0; ``cpus_per_task`` the CPUs
    shared evenly between the tasks that can run at once.
    """
    ray = _import_ray()
    for name, value in (("--workers", workers), ("--cpus-per-task", cpus_per_task)):
        if value is not None and value <= 0:
            raise UserError(f"{name} must be > 0, got {value}")
    if gpus_per_task is not None and gpus_per_task < 0:
        raise UserError(f"--gpus-per-task must be >= 0, got {gpus_per_task}")
    started = False
    if ray.is_initialized():
        logger.info("using the Ray instance already running in this process")
    elif address:
        join_cluster(ray, address)
        started = True
    else:
        gpus = local_gpu_count()
        per_gpu = gpus_per_task if gpus_per_task is not None else (1.0 if gpus else 0.0)
        if per_gpu > gpus:
            raise UserError(f"--gpus-per-task {per_gpu:g} but this machine has {gpus} visible GPU(s)")
        workers = workers or (max(1, int(gpus // per_gpu)) if per_gpu else 1)
        cpus = cpus_per_task or max(1, len(os.sched_getaffinity(0)) // workers)
        if os.environ.get("RAY_ADDRESS"):
            logger.info("RAY_ADDRESS=%s is not used: without --ray-address the runner starts its own Ray "
                        "(--ray-address auto joins that cluster)", os.environ["RAY_ADDRESS"])
        # address="local": a new Ray of our own, whatever runs (or once ran and left its address in Ray's
        # ray_current_cluster file) on this machine; without it ray.init() would join that cluster.
        ray.init(address="local", num_cpus=workers * cpus, num_gpus=gpus, include_dashboard=False,
                 log_to_driver=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES, logging_level=logging.WARNING)
        started = True
        cpus_per_task, gpus_per_task = cpus, per_gpu
    try:
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        yield _resolve_resources(nodes, cpus_per_task, gpus_per_task)
    finally:
        if started:
            ray.shutdown()


#: Seconds a cluster's head gets to answer before the runner gives up (ray.init itself waits for ever).
JOIN_TIMEOUT = 15.0


def join_cluster(ray, address: str, timeout: float = JOIN_TIMEOUT) -> None:
    """``ray.init(address)``, or a one-line UserError naming the address: unknown, silent, or refusing our token."""
    from .ray_join import check_answers, explain_join_error

    check_answers(address, timeout)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, AuthenticationError...
        raise UserError(explain_join_error(address, exc)) from exc


def _resolve_resources(nodes: Sequence[Dict[str, float]], cpus: Optional[float], gpus: Optional[float]) -> Resources:
    """Per-task resources from the alive nodes' resources (a task must fit on one node: never an unschedulable task)."""
    nodes = [(float(n.get("CPU", 0)), float(n.get("GPU", 0))) for n in nodes]
    most_cpus, most_gpus = max((c for c, _ in nodes), default=0.0), max((g for _, g in nodes), default=0.0)
    if gpus is None:
        gpus = 1.0 if most_gpus >= 1 else 0.0
    if gpus > most_gpus:
        raise UserError(f"--gpus-per-task {gpus:g} but no Ray node has more than {most_gpus:g} GPU(s)")
    if cpus is None:  # the CPUs of a GPU node shared evenly between the tasks its GPUs can take
        cpus = min((max(1.0, float(int(c // (g // gpus)))) for c, g in nodes if gpus and g >= gpus), default=1.0)
    if cpus > most_cpus:
        raise UserError(f"--cpus-per-task {cpus:g} but no Ray node has more than {most_cpus:g} CPU(s)")
    concurrency = sum(min(int(c // cpus), int(g // gpus)) if gpus else int(c // cpus) for c, g in nodes)
    return Resources(float(cpus), float(gpus), max(1, concurrency))


# --------------------------------------------------------------------------------------
# running tasks
# --------------------------------------------------------------------------------------


def _execute(function: Callable[[Any], Dict[str, Any]], payload: Any, cpus: float, env: Dict[str, str]):
    """The Ray task around ``function``: threads and GPUs from the task's resources, timing, worker name."""
    import ray

    gpu_ids = [str(i) for i in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]
    os.environ.update(env)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    threads = str(max(1, int(cpus)))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = threads
    start = time.monotonic()
    result = function(payload) or {}
    node = ray.get_runtime_context().get_node_id()
    worker = f"{socket.gethostname()}:{os.getpid()} node {node[:8]}" + (f" gpu {','.join(gpu_ids)}" if gpu_ids else "")
    return dict(result, seconds=time.monotonic() - start, worker=worker, node=node)


def run_tasks(
    tasks: Sequence[Task],
    function: Callable[[Any], Dict[str, Any]],
    resources: Resources,
    retries: int = DEFAULT_RETRIES,
    env: Optional[Dict[str, str]] = None,
    description: str = "tasks",
    memory: Optional[MemoryPolicy] = None,
) -> Summary:
    """Run ``function(task.payload)`` for every task on the connected Ray cluster (see module docs).

    ``env`` is set in the worker before each task (e.g. toolkit settings that a remote
    node's environment lacks). A task killed by Ray's memory monitor is handled by
    ``memory`` (:mod:`.memory_pressure`: back-off, fewer tasks at once). KeyboardInterrupt
    cancels what is still running.
    """
    ray = _import_ray()
    if retries < 0:
        raise UserError(f"--retries must be >= 0, got {retries}")
    ordered = sorted(tasks, key=lambda t: -t.frames)  # stable: equal sizes keep their order
    if len({t.key for t in ordered}) != len(ordered):
        raise ValueError("task keys must be unique")
    run = _Run(ray, ordered, function, resources, retries, dict(env or {}), Throttle(memory or MemoryPolicy()))
    progress = Progress(ordered, description)
    try:
        run.loop(progress)
    except KeyboardInterrupt:
        for ref in run.pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        progress.close()
    summary = run.summary
    summary.worker_deaths += sum(o.result.get("worker_died", False) for o in run.outcomes.values())
    summary.outcomes = [run.outcomes[t.key] for t in ordered]
    summary.seconds = time.monotonic() - run.start
    return summary


class _Run:
    """The state of one :func:`run_tasks`: queued, running (``pending``) and finished tasks."""

    def __init__(self, ray, ordered, function, resources: Resources, retries: int, env, throttle: Throttle):
        self.ray, self.function, self.resources, self.retries, self.env = ray, function, resources, retries, env
        self.remote = ray.remote(max_retries=0)(_execute)
        self.queue: List[Task] = list(ordered)
        self.attempts: Dict[str, int] = {t.key: 0 for t in ordered}
        self.pending: Dict[Any, Task] = {}
        self.outcomes: Dict[str, Outcome] = {}
        self.summary = Summary([], seconds=0.0)
        self.throttle = throttle
        self.start = time.monotonic()
        # a declaration above every node's memory resource would never be placed: cap it (and say so once)
        self.most_memory = max((n.get("Resources", {}).get("memory", 0) for n in ray.nodes() if n.get("Alive")),
                               default=0)
        if any(t.memory > self.most_memory for t in ordered):
            logger.warning("tasks declare up to %.1f GiB of memory but no Ray node offers more than %.1f GiB: "
                           "declaring %.1f GiB", max(t.memory for t in ordered) / 2 ** 30, self.most_memory / 2 ** 30,
                           self.most_memory / 2 ** 30)

    def capacity(self) -> int:
        """How many tasks the alive nodes can run at once now (nodes come and go)."""
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        try:
            return _resolve_resources(nodes, self.resources.cpus_per_task, self.resources.gpus_per_task).concurrency
        except UserError:  # no node fits a task any more (all lost): Ray reports that on its own
            return 1

    def submit_ready(self) -> None:
        while self.queue and self.throttle.may_start(len(self.pending)):
            task = self.queue.pop(0)
            self.attempts[task.key] += 1
            options = {"num_cpus": self.resources.cpus_per_task, "num_gpus": self.resources.gpus_per_task}
            if task.memory and self.most_memory:
                options["memory"] = int(min(task.memory, self.most_memory))
            ref = self.remote.options(**options).remote(self.function, task.payload, self.resources.cpus_per_task,
                                                        self.env)
            self.pending[ref] = task
            logger.debug("submitted %s (attempt %d) with %d other task(s) running", task.key, self.attempts[task.key],
                         len(self.pending) - 1)

    def loop(self, progress: "Progress") -> None:
        self.submit_ready()
        while self.pending or self.queue:
            ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=1.0) if self.pending else ([], [])
            if not self.pending:
                time.sleep(min(1.0, max(0.0, self.throttle.hold_until - time.monotonic())))
            progress.tick()
            for ref in ready:
                running = len(self.pending)
                task = self.pending.pop(ref)
                self.finished(task, _collect(self.ray, ref, task, self.attempts[task.key]), running, progress)
            self.submit_ready()

    def finished(self, task: Task, outcome: Outcome, running: int, progress: "Progress") -> None:
        """Keep the outcome, or queue the task again (a memory kill: after the back-off, see :class:`Throttle`)."""
        if not outcome.ok and is_oom(outcome.error):
            self.summary.memory_kills += 1
            detail = outcome.result.get("detail", outcome.error)
            seen = node_memory(killed_node(detail)) if killed_node(detail) else None
            delay = self.throttle.killed(task.key, min(running, self.capacity()))  # the back-off starts now
            with progress.bar.external_write_mode():
                logger.warning("%s", oom_report(task.key, detail, delay, self.throttle.limit, seen))
            if delay is not None:
                self.attempts[task.key] -= 1  # a memory kill does not use up --retries
                self.summary.retries += 1
                self.queue.insert(0, task)
                return
        elif not outcome.ok and self.attempts[task.key] <= self.retries:
            self.summary.retries += 1
            self.summary.worker_deaths += outcome.result.get("worker_died", False)
            with progress.bar.external_write_mode():
                logger.warning("%s failed (attempt %d of %d), retrying: %s", task.key, self.attempts[task.key],
                               self.retries + 1, outcome.error)
            self.queue.insert(0, task)
            return
        self.outcomes[task.key] = outcome
        progress.finished(outcome)


def _collect(ray, ref, task: Task, attempt: int) -> Outcome:
    """The outcome of one finished Ray task: its result, its exception, or its worker's death."""
    try:
        result = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # an exception inside the task
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return Outcome(task.key, False, task.frames, attempts=attempt, error=f"{type(cause).__name__}: {cause}")
    except ray.exceptions.RayError as exc:  # the worker process or its node died
        text = str(exc).strip()
        error = f"worker died ({type(exc).__name__}: {text.splitlines()[0] if text else ''})"
        return Outcome(task.key, False, task.frames, attempts=attempt, error=error,
                       result={"worker_died": True, "detail": f"{type(exc).__name__}: {text}"})
    ok = result.get("ok", True)
    return Outcome(
        task.key, bool(ok), frames=task.frames, seconds=float(result.get("seconds", 0.0)),
        worker=str(result.get("worker", "")), attempts=attempt, error=str(result.get("error", "")),
        log=result.get("log"), result=result,
    )
