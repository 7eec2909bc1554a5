"""Distributed evaluation speed: 1 worker vs 2 workers on one local Ray, and Ray's fixed overhead.

Builds a synthetic workspace (random-init weights), starts one local Ray instance and,
in one run, alternates ``--force`` evaluations of all its sequences with 1 and with 2
concurrent tasks. The tracker runs with ``--threads 1`` in both settings (an extra
workspace entry), so the ratio measures what more workers buy, not more threads.
Also printed: Ray's start-up time and its per-task overhead (empty tasks, one at a time).

    python benchmarks/distributed_speed.py --sequences 4 --frames 30 --size 320x240 --repeats 3

Wall times depend on what else the machine runs: compare the ratio, measured here in one run.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vots_tracker.evaluation import outputs, toolkit  # noqa: E402
from vots_tracker.evaluation import distributed
from vots_tracker.evaluation.entries import workspace_entries
from vots_tracker.evaluation import tasks as evaluate_tasks
from vots_tracker.workspace import folder as wsmod  # noqa: E402
from vots_tracker.workspace.trackers_ini import parse_command, serve_command  # noqa: E402


def _noop(payload):
    return {}


def add_single_thread_entry(ws: Path, preset: str) -> str:
    """A workspace entry running ``preset`` with ``--threads 1``; returns its name."""
    name = f"{preset}_threads1"
    entries = workspace_entries(ws)
    base = entries[preset]
    args = parse_command(base["command"]) + ["--threads", "1"]
    lines = [f"[{name}]"] + [f"{k} = {v}" for k, v in base.items() if k != "command"]
    lines.append(f"command = {serve_command(args)}")
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write("\n" + "\n".join(lines) + "\n")
    return name


def per_task_overhead(tasks: int) -> float:
    """Seconds per empty task, run one at a time (all the cluster's CPUs per task)."""
    import ray

    remote = ray.remote(max_retries=0)(_noop).options(num_cpus=ray.cluster_resources()["CPU"])
    ray.get(remote.remote(None))  # a warm worker
    start = time.perf_counter()
    for _ in range(tasks):
        ray.get(remote.remote(None))
    return (time.perf_counter() - start) / tasks


def evaluate_once(ws: Path, tracker: str, workers: int, cpus: int) -> float:
    """Wall seconds of one --force evaluation with ``workers`` tasks at once."""
    tasks, _ = evaluate_tasks.plan_tasks(ws, [tracker], force=True)
    resources = distributed.Resources(cpus_per_task=cpus // workers, gpus_per_task=0, concurrency=workers)
    start = time.perf_counter()
    summary = distributed.run_tasks(tasks, evaluate_tasks.run_sequence, resources, retries=0,
                                    env=evaluate_tasks.worker_env(ws), description=f"{workers} worker(s)")
    wall = time.perf_counter() - start
    if summary.failed or outputs.check_results(ws, tracker):
        raise SystemExit(f"evaluation failed: {summary.lines()}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker", default="dmaot_smoke", help="smoke entry of the synthetic workspace [dmaot_smoke]")
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="evaluations per setting, interleaved [3]")
    parser.add_argument("--overhead-tasks", type=int, default=50)
    parser.add_argument("--workdir", default=None, help="keep the workspace here [a temporary folder]")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    import ray

    folder = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="distributed-speed-"))
    ws = wsmod.init_workspace(folder / "ws", synthetic=args.sequences, frames=args.frames,
                              size=wsmod._parse_size(args.size), objects=args.objects, force=True)
    toolkit.set_numba_cache(ws)
    tracker = add_single_thread_entry(ws, args.tracker)
    cpus = 2
    start = time.perf_counter()
    ray.init(num_cpus=cpus, num_gpus=0, include_dashboard=False, log_to_driver=False,
             object_store_memory=distributed.LOCAL_OBJECT_STORE_BYTES, logging_level=logging.WARNING)
    startup = time.perf_counter() - start
    try:
        overhead = per_task_overhead(args.overhead_tasks)
        walls = {1: [], 2: []}
        evaluate_once(ws, tracker, 2, cpus)  # warm-up: worker processes, page cache
        for _ in range(args.repeats):
            for workers in (1, 2):
                walls[workers].append(evaluate_once(ws, tracker, workers, cpus))
    finally:
        ray.shutdown()
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)

    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print(f"setting: {args.sequences} sequences x {args.frames} frames, {args.size}, {args.objects} objects, "
          f"{args.tracker} --threads 1, {args.repeats} interleaved run(s) per setting")
    print(f"ray start-up: {startup:.2f} s")
    print(f"ray per-task overhead: {overhead * 1000:.1f} ms (empty task, one at a time, {args.overhead_tasks} tasks)")
    print(f"1 worker:  {one:.1f} s (runs: {', '.join(f'{w:.1f}' for w in walls[1])})")
    print(f"2 workers: {two:.1f} s (runs: {', '.join(f'{w:.1f}' for w in walls[2])})")
    print(f"speed-up 2 vs 1 worker: {one / two:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
