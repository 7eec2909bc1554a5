"""Tasks killed by Ray's memory monitor: a back-off, then fewer tasks at once, and the run ends complete.

The machine is shared, so the test never fills its memory: it starts a Ray cluster (a head
without CPUs, one worker node of two CPUs) whose memory monitor fires at a threshold just
above the memory this machine uses now (RAY_memory_usage_threshold, read by each raylet at
start; checked every 100 ms: ROOM (2 GiB) for Ray's own processes, our workers and the machine's
other work; the test is marked serial, so that nothing else runs beside it), and the first tracker of one sequence takes memory, 128 MiB at a time, until the node
passes that threshold (at most HOG_MIB) and Ray kills its worker (the tracker then exits:
tests/e2e/vots_fault_hook.py). If the rest of the machine freed so much memory meanwhile that
HOG_MIB no longer reach the threshold, the test skips, saying so.
"""

import contextlib
import logging
import re
import shutil
import tempfile

import pytest

import vots_tracker.workspace.folder as wsmod
from vots_tracker.evaluation import outputs as results
from vots_tracker.evaluation import tasks as evaluate_tasks
from vots_tracker.evaluation.memory_pressure import MemoryPolicy

from ray_workspace import result_bins as bins, sequential_bins
from test_multinode import entry

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # reads the node's memory use: alone (tests/conftest.py)
GIB = 1024 ** 3
ROOM = 2 * GIB  # above the memory in use when the cluster starts, before the monitor fires
HOG_MIB = 3072  # the most the hog may take to pass the threshold (it stops as soon as it has)
BACKOFF = 2.0


@contextlib.contextmanager
def low_threshold_cluster():
    """Head without CPUs and one node of two CPUs whose memory monitor fires ROOM above today's use.

    Started last, right before the run, so that the machine's use drifts as little as possible
    in between (the driver's own work, e.g. the reference run, is done by then).
    """
    import ray
    from ray._common.utils import get_system_memory
    from ray._private.utils import get_used_memory
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    folder = tempfile.mkdtemp(prefix="vp-", dir="/tmp")
    # Ray's own view of the node's memory. The room covers the cluster's own processes (GCS, raylet, agents)
    # and two tasks' workers, toolkits and trackers, which start after this reading.
    threshold = (get_used_memory() + ROOM) / get_system_memory()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", folder)
        patch.setenv("RAY_memory_usage_threshold", f"{threshold:.4f}")
        patch.setenv("RAY_memory_monitor_refresh_ms", "100")
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        try:
            cluster.add_node(num_cpus=2, object_store_memory=80 * 1024 * 1024)
            cluster.wait_for_nodes()
            yield cluster
        finally:
            if ray.is_initialized():
                ray.shutdown()
            cluster.shutdown()
            shutil.rmtree(folder, ignore_errors=True)


def test_memory_kill_backs_off_and_runs_fewer_at_once(tmp_path, tmp_path_factory, smoke_weights, caplog):
    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=4, frames=5, size=(96, 72), objects=2,
                              weights_dir=smoke_weights)
    marker = tmp_path / "hogged"
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(entry("static", ws) + entry("static_hog", ws, VOTS_TEST_HOG=f"synthetic-01:{HOG_MIB}:{marker}"))
    sequential = sequential_bins(ws, "static", tmp_path_factory.mktemp("sequential"))
    caplog.set_level(logging.DEBUG, logger="vots_tracker.evaluation.distributed")
    policy = MemoryPolicy(backoff=BACKOFF, max_backoff=2 * BACKOFF, retries=8)
    with low_threshold_cluster() as cluster:
        summary, complete = evaluate_tasks.evaluate(ws, ["static_hog"], address=cluster.address, cpus_per_task=1,
                                                    gpus_per_task=0, memory=policy)
    assert marker.is_file()  # the hog did run
    if marker.read_text().split()[2] == "short" and not summary.memory_kills:
        pytest.skip(f"the machine's other work freed memory: the hog stayed under Ray's threshold ({marker.read_text()})")
    assert (complete, summary.failed) == (0, [])
    assert summary.memory_kills >= 1
    assert results.check_results(ws, "static_hog") == []
    assert bins(ws, "static_hog") == sequential

    records = [r for r in caplog.records if r.name == "vots_tracker.evaluation.distributed"]
    kills = [r for r in records if "memory monitor killed" in r.getMessage()]
    first = kills[0]
    line = first.getMessage()
    assert re.search(r"memory of node \S+ \(\w+\) was full \([\d.]+ of [\d.]+ GiB used\)", line), line
    assert re.search(r"of which [\d.]+ GiB by our [1-9]\d* process\(es\)", line), line
    assert "--workers" in line and "--cpus-per-task" in line and "free memory" in line, line
    assert re.search(rf"retrying in {BACKOFF:.0f} s with at most 1 task\(s\) at once", line), line
    later = [r for r in records if r.created > first.created and r.getMessage().startswith("submitted ")]
    assert later, "nothing ran again after the kill"
    assert min(r.created for r in later) >= first.created + BACKOFF - 0.1  # a back-off, not at once
    running = [int(re.search(r"with (\d+) other", r.getMessage()).group(1)) for r in later]
    assert running and max(running) == 0  # one task at a time from then on
