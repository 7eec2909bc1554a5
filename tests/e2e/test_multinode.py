"""`vots-tracker evaluate` on Ray's own multi-node test cluster (`ray.cluster_utils.Cluster`).

A head node with no CPUs and worker nodes of one CPU, all on this machine, each a real
raylet: tasks run on the worker nodes only. The real tracker (`dmaot_smoke`, random init)
is compared with a sequential `vot evaluate`; the fault tests run the model-free static
tracker (deterministic: a retried sequence must give the same bytes as a sequential run)
with test hooks (tests/e2e/vots_fault_hook.py) that hold a tracker until released, hog
memory, or log start and end times. Every cluster here lives in a Ray temporary folder of
its own (RAY_TMPDIR), so its ray_current_cluster file never reaches other Ray users.
"""

import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import vots_tracker.evaluation.outputs as results
from vots_tracker.evaluation import distributed
from vots_tracker.evaluation import tasks as evaluate_tasks
from vots_tracker.workspace.data_files import PACKAGE_ROOT

from ray_workspace import SEQUENCES, make_workspace, result_bins as bins, sequences_digest, sequential_bins

E2E_DIR = Path(__file__).resolve().parent
START_STATIC = "import vots_static_tracker; vots_static_tracker._main()"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray cluster at a time under xdist


def entry(name: str, weights: Path, **env: str) -> str:
    lines = [
        f"[{name}]", f"label = {name} (test)", "protocol = traxpython", f"python = {sys.executable}",
        f"paths = {E2E_DIR}{os.pathsep}{PACKAGE_ROOT}",
        f"command = import vots_fault_hook; vots_fault_hook.install(); {START_STATIC}",
        "timeout = 300", "env_LD_LIBRARY_PATH = $LD_LIBRARY_PATH", f"env_VOTS_TRACKER_WEIGHTS = {weights}",
    ]
    return "\n" + "\n".join(lines + [f"env_{key} = {value}" for key, value in env.items()]) + "\n"


@pytest.fixture(scope="module")
def ray_tmpdir():
    """A short private Ray temporary folder (socket paths have a length limit) for this module's clusters."""
    folder = tempfile.mkdtemp(prefix="vm-", dir="/tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", folder)
        yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(ray_tmpdir):
    """Head without CPUs, two worker nodes of one CPU; this process is the driver."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def ws(tmp_path_factory, smoke_weights):
    root = tmp_path_factory.mktemp("multinode")
    ws = make_workspace(root / "ws", smoke_weights)
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(entry("static", smoke_weights))
    return ws


def add_entry(ws: Path, name: str, **env: str) -> str:
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(entry(name, ws, **env))
    return name


@pytest.fixture(scope="module")
def static_sequential(ws, tmp_path_factory):
    return sequential_bins(ws, "static", tmp_path_factory.mktemp("sequential"))


def evaluate(ws, tracker, cluster, **options):
    options = {"cpus_per_task": 1, "gpus_per_task": 0, "address": cluster.address, **options}
    return evaluate_tasks.evaluate(ws, [tracker], **options)


def nodes_by_raylet(cluster):
    """{raylet pid: node} for the cluster's worker nodes."""
    return {node.all_processes["raylet"][0].process.pid: node for node in cluster.worker_nodes}


def node_of(pid: int, cluster):
    """The worker node whose raylet is an ancestor of process ``pid`` (Ray workers are the raylet's children)."""
    import psutil

    raylets = nodes_by_raylet(cluster)
    for parent in psutil.Process(pid).parents():
        if parent.pid in raylets:
            return raylets[parent.pid]
    raise AssertionError(f"process {pid} runs on none of the cluster's worker nodes")


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


class Background:
    """``evaluate`` in a thread, so that the test can act on the cluster while tasks run."""

    def __init__(self, *args, **kwargs):
        self.result, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=args, kwargs=kwargs, daemon=True)
        self.thread.start()

    def _run(self, *args, **kwargs):
        try:
            self.result = evaluate(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            self.error = exc

    def join(self, seconds: float = 300):
        self.thread.join(seconds)
        assert not self.thread.is_alive(), "the evaluation did not finish"
        if self.error:
            raise self.error
        return self.result


def held(folder: Path):
    return sorted(folder.glob("*.held"))


def test_real_tracker_on_two_nodes_matches_sequential(ws, cluster, dmaot_smoke_sequential):
    assert sequences_digest(ws) == dmaot_smoke_sequential.sequences  # the sequences it was evaluated on
    summary, complete = evaluate(ws, "dmaot_smoke", cluster)
    assert (complete, summary.failed) == (0, [])
    nodes = {o.result["node"] for o in summary.outcomes}
    assert nodes == {n.node_id for n in cluster.worker_nodes}  # both worker nodes ran sequences, the head none
    ours = bins(ws, "dmaot_smoke")
    assert len(ours) == SEQUENCES * 2
    assert ours == dmaot_smoke_sequential.bins


def test_node_removed_mid_run_its_sequence_runs_elsewhere(ws, cluster, static_sequential, tmp_path):
    hold = tmp_path / "hold"
    hold.mkdir()
    tracker = add_entry(ws, "static_node_lost", VOTS_TEST_HOLD=str(hold))
    run = Background(ws, tracker, cluster)
    first = wait_for(lambda: held(hold), 120, "a tracker to start")[0]
    lost = node_of(int(first.stem.rsplit("-", 1)[1]), cluster)
    cluster.remove_node(lost)  # every process of that node: raylet, Ray workers (our tracker follows its worker)
    cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)  # the next tests keep two worker nodes
    (hold / "release").write_text("")
    summary, complete = run.join()
    assert (complete, summary.failed) == (0, [])
    assert summary.retries >= 1 and summary.worker_deaths >= 1
    sequence = first.stem.rsplit("-", 1)[0]
    again = next(o for o in summary.outcomes if o.key.endswith("/" + sequence))
    assert again.attempts == 2 and again.result["node"] != lost.node_id
    assert lost.node_id not in {o.result["node"] for o in summary.outcomes}
    assert bins(ws, tracker) == static_sequential  # the retried sequence too, byte for byte
    assert results.check_results(ws, tracker) == []


def test_node_added_mid_run_takes_tasks(ws, cluster, static_sequential, tmp_path):
    hold = tmp_path / "hold"
    hold.mkdir()
    tracker = add_entry(ws, "static_node_added", VOTS_TEST_HOLD=str(hold))
    busy = len(cluster.worker_nodes)
    run = Background(ws, tracker, cluster)
    wait_for(lambda: len(held(hold)) == busy, 120, f"{busy} trackers to start, one per node")
    time.sleep(1.0)
    assert len(held(hold)) == busy  # every node is busy: the other tasks wait for a CPU
    added = cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)
    newcomer = wait_for(lambda: len(held(hold)) > busy and held(hold), 120, "a task on the added node")
    pids = {int(p.stem.rsplit("-", 1)[1]) for p in newcomer}
    assert added in {node_of(pid, cluster) for pid in pids}
    (hold / "release").write_text("")
    summary, complete = run.join()
    assert (complete, summary.failed) == (0, [])
    assert added.node_id in {o.result["node"] for o in summary.outcomes}
    assert bins(ws, tracker) == static_sequential


# --------------------------------------------------------------------------------------
# bad input: one line naming the value, before any task runs, results/ untouched
# --------------------------------------------------------------------------------------


def snapshot(ws: Path):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (ws / "results").rglob("*") if p.is_file()}


def cli(argv, capsys):
    from vots_tracker.cli import main

    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.err.strip().splitlines()


def test_unanswering_address_is_one_line_within_the_time_limit(ws, capsys):
    with __import__("socket").socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    before = snapshot(ws)
    start = time.monotonic()
    rc, err = cli(["evaluate", "--workspace", str(ws), "--tracker", "static", "--quiet", "--ray-address", dead], capsys)
    assert time.monotonic() - start < 60  # ray.init alone would wait for ever
    assert rc != 0
    errors = [line for line in err if line.startswith("vots-tracker: error:")]
    assert len(errors) == 1 and f"the Ray cluster at '{dead}' does not answer" in errors[0], err
    assert snapshot(ws) == before


def test_gpus_per_task_above_every_node(ws, cluster, capsys):
    before = snapshot(ws)
    rc, err = cli(["evaluate", "--workspace", str(ws), "--tracker", "static", "--quiet", "--ray-address",
                   cluster.address, "--gpus-per-task", "1"], capsys)
    assert rc != 0
    errors = [line for line in err if line.startswith("vots-tracker: error:")]
    assert errors == ["vots-tracker: error: --gpus-per-task 1 but no Ray node has more than 0 GPU(s)"], err
    assert snapshot(ws) == before


def test_every_node_is_named_when_it_lacks_the_workspace(cluster, tmp_path):
    import ray
    from vots_tracker.errors import UserError

    with distributed.ray_session(address=cluster.address):
        nodes = [n["NodeID"][:8] for n in ray.nodes() if n["Alive"]]
        with pytest.raises(UserError) as error:
            distributed.check_nodes([tmp_path / "absent"])
    message = str(error.value)
    assert len(nodes) == 1 + len(cluster.worker_nodes)
    assert all(f"node {node})" in message for node in nodes), message  # each node by its id: same host here
    assert f"does not see {tmp_path / 'absent'}" in message and "same path" in message


_TOKEN_CLUSTER = """
import sys
from ray.cluster_utils import Cluster
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)
print(cluster.address, flush=True)
sys.stdin.read()  # until the test closes it
cluster.shutdown()
"""


def test_driver_without_the_clusters_token_gets_one_line(ws, ray_tmpdir, tmp_path):
    """A cluster with token authentication (its own token); drivers without it, then with it."""
    import secrets
    import subprocess

    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    head = subprocess.Popen([sys.executable, "-c", _TOKEN_CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=dict(env, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token))
    try:
        address = head.stdout.readline().strip()
        assert address, "the token cluster did not start"
        before = snapshot(ws)
        argv = [sys.executable, "-m", "vots_tracker", "evaluate", "--workspace", str(ws), "--tracker", "static",
                "--quiet", "--ray-address", address]
        # Ray retries a refused driver once a second, RAY_NUM_REDIS_GET_RETRIES (20) times, before it fails.
        refused = subprocess.run(argv, env=dict(env, RAY_NUM_REDIS_GET_RETRIES="3"), capture_output=True, text=True,
                                 timeout=120)
        assert refused.returncode != 0
        errors = [line for line in refused.stderr.splitlines() if line.startswith("vots-tracker: error:")]
        assert len(errors) == 1, refused.stderr[-2000:]
        assert f"the Ray cluster at '{address}' refused this driver's authentication token" in errors[0], errors
        assert "this driver has no token" in errors[0] and "RAY_AUTH_MODE=token" in errors[0], errors
        assert "Traceback" not in refused.stderr
        assert snapshot(ws) == before
        join = "import ray, sys; ray.init(address=sys.argv[1]); print(ray.cluster_resources()['CPU'])"
        with_token = dict(env, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
        joined = subprocess.run([sys.executable, "-c", join, address], env=with_token, capture_output=True,
                                text=True, timeout=120)
        assert joined.stdout.strip() == "1.0", joined.stderr[-2000:]  # with the token, the same driver joins
    finally:
        head.stdin.close()
        head.wait(60)


def test_ascii_route_is_made_on_a_node_that_lacks_it(ws, tmp_path, monkeypatch):
    """A non-ASCII workspace: the driver's ASCII symlink exists on its own node only; a task makes it where absent."""
    copy = tmp_path / "jos\u00e9" / "ws"
    shutil.copytree(ws, copy, ignore=shutil.ignore_patterns("results", "cache", ".vots-*"))
    route = tmp_path / "elsewhere" / "workspace"  # the driver's link, as another node lacks it
    monkeypatch.chdir(tmp_path)  # run_sequence enters the workspace, as `vot evaluate` does
    task = evaluate_tasks.SequenceTask(str(route), "static", "baseline", "synthetic-01", origin=str(copy))
    outcome = evaluate_tasks.run_sequence(task)
    assert outcome["ok"], outcome
    assert route.is_symlink() and route.resolve() == copy.resolve()
    assert sorted(p.name for p in (copy / "results" / "static" / "baseline" / "synthetic-01").glob("*.bin"))
