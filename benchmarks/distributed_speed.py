"""Distributed evaluation speed: 1 worker vs 2 workers on one local Ray, and Ray's fixed overhead.

Builds a synthetic workspace (random-init weights), starts one local Ray instance and,
in one run, alternates ``--force`` evaluations of all its sequences with 1 and with 2
concurrent tasks. The tracker runs with ``--threads 1`` in both settings (an extra
workspace entry), so the ratio measures what more workers buy, not more threads.
Also printed: Ray's start-up time and its per-task overhead (empty tasks, one at a time).

Then, on Ray's own multi-node test cluster on this machine (``ray.cluster_utils.Cluster``:
a head without CPUs and worker nodes of one CPU each), in the same run: the evaluation on 1
node against 2 nodes, and on 2 nodes with one of them removed half-way through (its running
sequence runs again on the other node): the overhead of a node loss is that wall time over
the 2-node one.

    python benchmarks/distributed_speed.py --sequences 4 --frames 30 --size 320x240 --repeats 3

Wall times depend on what else the machine runs: compare the ratio, measured here in one run.
"""

from __future__ import annotations

import argparse
import os
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


def evaluate_on_cluster(ws: Path, tracker: str, cluster, lose_after: float = 0.0) -> float:
    """Wall seconds of one --force evaluation joined to ``cluster``; remove a worker node after ``lose_after`` s."""
    import threading

    tasks, _ = evaluate_tasks.plan_tasks(ws, [tracker], force=True)
    resources = distributed.Resources(cpus_per_task=1, gpus_per_task=0, concurrency=len(cluster.worker_nodes))
    timer = None
    if lose_after:
        victim = sorted(cluster.worker_nodes, key=lambda n: n.node_id)[0]
        timer = threading.Timer(lose_after, cluster.remove_node, args=(victim,))
        timer.start()
    start = time.perf_counter()
    summary = distributed.run_tasks(tasks, evaluate_tasks.run_sequence, resources, retries=2,
                                    env=evaluate_tasks.worker_env(ws), description="cluster")
    wall = time.perf_counter() - start
    if timer:
        timer.join()
    if summary.failed or outputs.check_results(ws, tracker):
        raise SystemExit(f"evaluation failed: {summary.lines()}")
    if lose_after and not summary.worker_deaths:
        print(f"note: the node was removed after the run's tasks had finished ({summary.lines()[0]})")
    return wall


def multinode(ws: Path, tracker: str, repeats: int) -> dict:
    """1 node vs 2 nodes, and 2 nodes losing one half-way; medians over ``repeats`` interleaved rounds."""
    import ray
    from ray.cluster_utils import Cluster

    node_args = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}
    # a Ray temporary folder of our own: the test cluster records its address there, not in /tmp/ray
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="vb-", dir="/tmp")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    walls = {"1 node": [], "2 nodes": [], "2 nodes, one lost": []}
    try:
        cluster.add_node(**node_args)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
        evaluate_on_cluster(ws, tracker, cluster)  # warm-up
        for _ in range(repeats):
            while len(cluster.worker_nodes) > 1:
                cluster.remove_node(next(iter(cluster.worker_nodes)))
            walls["1 node"].append(evaluate_on_cluster(ws, tracker, cluster))
            cluster.add_node(**node_args)
            cluster.wait_for_nodes()
            two = evaluate_on_cluster(ws, tracker, cluster)
            walls["2 nodes"].append(two)
            walls["2 nodes, one lost"].append(evaluate_on_cluster(ws, tracker, cluster, lose_after=two / 2))
            cluster.add_node(**node_args)
            cluster.wait_for_nodes()
    finally:
        ray.shutdown()
        cluster.shutdown()
    return walls


def local(args) -> None:
    """1 vs 2 workers on one local Ray, Ray's start-up and per-task overhead."""
    import ray

    folder = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="distributed-speed-"))
    ws = wsmod.init_workspace(folder / "ws", synthetic=args.sequences, frames=args.frames,
                              size=wsmod._parse_size(args.size), objects=args.objects, force=True)
    toolkit.set_numba_cache(ws)
    tracker = add_single_thread_entry(ws, args.tracker)
    cpus = 2
    start = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, num_gpus=0, include_dashboard=False, log_to_driver=False,
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
    print(f"speed-up 2 vs 1 worker: {one / two:.2f}x", flush=True)


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
    parser.add_argument("--skip-local", action="store_true", help="only the multi-node part")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if not args.skip_local:
        local(args)
    elif args.workdir:
        raise SystemExit("--workdir applies to the local part")

    folder = Path(tempfile.mkdtemp(prefix="distributed-speed-"))
    try:
        ws = wsmod.init_workspace(folder / "ws", synthetic=args.sequences, frames=args.frames,
                                  size=wsmod._parse_size(args.size), objects=args.objects, force=True)
        toolkit.set_numba_cache(ws)
        walls = multinode(ws, add_single_thread_entry(ws, args.tracker), args.repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in walls.items()}
    print("Ray multi-node test cluster on this machine (head without CPUs, worker nodes of 1 CPU):")
    for name, runs in walls.items():
        print(f"{name + ':':19s} {median[name]:.1f} s (runs: {', '.join(f'{w:.1f}' for w in runs)})")
    print(f"speed-up 2 vs 1 node: {median['1 node'] / median['2 nodes']:.2f}x")
    print(f"node loss half-way: {median['2 nodes, one lost'] / median['2 nodes']:.2f}x the 2-node wall time "
          f"(+{median['2 nodes, one lost'] - median['2 nodes']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
