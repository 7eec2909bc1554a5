"""`vots-tracker evaluate` on Ray (local, 2 CPUs, 2 declared GPUs) over 4 synthetic sequences.

One workspace and one Ray instance serve the whole module; every test evaluates its own
tracker entry, so their results never mix. The real tracker (`dmaot_smoke`, random init)
runs where results are compared with a sequential `vot evaluate`; the model-free static
tracker (tests/e2e/vots_static_tracker.py; deterministic, so a retried sequence must give
the same bytes) runs the fault and plumbing tests, which would only repeat the real
tracker's start-up cost. Faults come from tests/e2e/vots_fault_hook.py, never from the package.
"""

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

import vots_tracker.evaluation.outputs as outputs
from vots_tracker.workspace.data_files import PACKAGE_ROOT
from vots_tracker.evaluation import distributed
from vots_tracker.evaluation import tasks as evaluate_tasks
from vots_tracker.errors import UserError

from ray_workspace import SEQUENCES, make_workspace, result_bins as _bins, sequences_digest

E2E_DIR = Path(__file__).resolve().parent
START_STATIC = "import vots_static_tracker; vots_static_tracker._main()"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray cluster at a time under xdist


def _entry(name: str, start: str, weights: Path, **env: str) -> str:
    lines = [
        f"[{name}]", f"label = {name} (test)", "protocol = traxpython", f"python = {sys.executable}",
        f"paths = {E2E_DIR}{os.pathsep}{PACKAGE_ROOT}",
        f"command = import vots_fault_hook; vots_fault_hook.install(); {start}",
        "timeout = 300", "env_LD_LIBRARY_PATH = $LD_LIBRARY_PATH", f"env_VOTS_TRACKER_WEIGHTS = {weights}",
    ]
    lines += [f"env_{key} = {value}" for key, value in env.items()]
    return "\n" + "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def ws(tmp_path_factory, smoke_weights):
    root = tmp_path_factory.mktemp("distributed")
    ws = make_workspace(root / "ws", smoke_weights)
    (root / "probe").mkdir()
    entries = [
        _entry("static_killed", START_STATIC, smoke_weights, VOTS_TEST_KILL=f"synthetic-02:3:{root / 'killed'}"),
        _entry("static_probe", START_STATIC, smoke_weights, VOTS_TEST_PROBE=str(root / "probe")),
        _entry("static_failing", START_STATIC, smoke_weights, VOTS_TEST_FAIL="synthetic-03"),
        _entry("static_resume", START_STATIC, smoke_weights),
        _entry("static", START_STATIC, smoke_weights),
    ]
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write("".join(entries))
    return ws


@pytest.fixture(scope="module")
def hook():
    """The test-only fault module, shipped to Ray workers by value (tests/e2e is not on their path)."""
    import ray.cloudpickle
    import vots_fault_hook

    ray.cloudpickle.register_pickle_by_value(vots_fault_hook)
    return vots_fault_hook


@pytest.fixture(scope="module")
def ray_cluster():
    """The runner's own local Ray (--workers 2 --cpus-per-task 1), started once, with 2 GPUs declared to Ray.

    The declared GPUs let Ray assign GPU ids that the CUDA_VISIBLE_DEVICES probe can see.
    Later runs find Ray initialised and use it as it is.
    """
    import ray

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(distributed, "local_gpu_count", lambda: 2)
        with distributed.ray_session(workers=2, cpus_per_task=1, gpus_per_task=0) as resources:
            assert resources == distributed.Resources(1.0, 0.0, 2)
            assert ray.cluster_resources()["GPU"] == 2
            yield ray


@pytest.fixture(scope="module")
def static_bins(ws, ray_cluster):
    """Results of the static tracker (deterministic), run on Ray once."""
    summary, _ = _run(ws, "static")
    assert len(summary.outcomes) == SEQUENCES and not summary.failed
    return _bins(ws, "static")


def _run(ws, tracker, **options):
    options = {"cpus_per_task": 1, "gpus_per_task": 0, **options}
    return evaluate_tasks.evaluate(ws, [tracker], **options)


def test_two_workers_match_sequential_vot_evaluate(ws, dmaot_smoke_sequential, ray_cluster, capsys, caplog):
    from vots_tracker.evaluation.evaluate import run_evaluate

    assert sequences_digest(ws) == dmaot_smoke_sequential.sequences  # the sequences it was evaluated on
    caplog.set_level("INFO", logger="vots_tracker.evaluation.distributed")
    rc = run_evaluate(ws, ["dmaot_smoke"], echo=False, cpus_per_task=1, gpus_per_task=0)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "evaluate dmaot_smoke: ok, results complete" in out
    assert re.search(r"^Q dmaot_smoke: [0-9.]+$", out, re.M), out
    assert re.search(r"^pack dmaot_smoke: .+\.zip$", out, re.M), out
    finished = [r.getMessage() for r in caplog.records if r.getMessage().startswith("finished ")]
    assert len(finished) == SEQUENCES
    assert len({line.rsplit(" on ", 1)[1] for line in finished}) == 2  # both workers ran sequences
    ours = _bins(ws, "dmaot_smoke")
    assert len(ours) == SEQUENCES * 2  # 2 objects per sequence
    assert ours == dmaot_smoke_sequential.bins


def test_killed_tracker_is_retried(ws, static_bins, ray_cluster):
    summary, complete = _run(ws, "static_killed")
    assert complete == 0 and not summary.failed
    assert (ws.parent / "killed").is_file()  # the hook did kill the tracker, on frame 3 of synthetic-02
    attempts = {o.key.rsplit("/", 1)[1]: o.attempts for o in summary.outcomes}
    assert attempts == {"synthetic-01": 1, "synthetic-02": 2, "synthetic-03": 1, "synthetic-04": 1}
    assert (summary.retries, summary.worker_deaths) == (1, 0)  # the tracker died, not the Ray worker
    assert outputs.check_results(ws, "static_killed") == []
    assert _bins(ws, "static_killed") == static_bins  # the retried sequence too
    assert not (ws / evaluate_tasks.STAGING_DIR / "static_killed").exists()


def test_resume_runs_nothing_and_force_runs_everything(ws, ray_cluster):
    first, complete = _run(ws, "static_resume")
    assert (len(first.outcomes), complete) == (SEQUENCES, 0)
    stamps = {p: p.stat().st_mtime_ns for p in (ws / "results" / "static_resume").rglob("*") if p.is_file()}
    again, complete = _run(ws, "static_resume")
    assert (len(again.outcomes), complete) == (0, SEQUENCES)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    forced, complete = _run(ws, "static_resume", force=True)
    assert (len(forced.outcomes), complete) == (SEQUENCES, 0)
    assert all(p.stat().st_mtime_ns != stamp for p, stamp in stamps.items())


def test_worker_dying_mid_write_leaves_old_results(ws, static_bins, ray_cluster, hook):
    """A worker killed while the toolkit writes a --force re-run: the old complete results stay, untouched."""
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (ws / "results" / "static").rglob("*") if p.is_file()}
    tasks, _ = evaluate_tasks.plan_tasks(ws, ["static"], force=True)
    resources = distributed.Resources(1, 0, 2)
    summary = distributed.run_tasks(tasks[:1], hook.run_sequence_dying_mid_write, resources, retries=0,
                                    env=evaluate_tasks.worker_env(ws))
    assert summary.failed and summary.worker_deaths == 1
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stamps} == stamps
    assert outputs.check_results(ws, "static") == []


def test_dead_worker_is_retried(tmp_path, ray_cluster, hook):
    (tmp_path / "present").write_text("")
    tasks = [distributed.Task("dies", (str(tmp_path / "marker"), 7), frames=3),
             distributed.Task("lives", (str(tmp_path / "present"), 8))]
    summary = distributed.run_tasks(tasks, hook.die_once, distributed.Resources(1, 0, 2), retries=1)
    assert not summary.failed
    assert (summary.retries, summary.worker_deaths) == (1, 1)
    assert [(o.key, o.attempts, o.result["value"]) for o in summary.outcomes] == [("dies", 2, 7), ("lives", 1, 8)]


def test_failing_sequence_is_named_with_its_log(ws, ray_cluster, capsys):
    from vots_tracker.cli import build_parser

    args = build_parser().parse_args(["evaluate", "--workspace", str(ws), "--tracker", "static_failing", "--quiet",
                                      "--cpus-per-task", "1", "--gpus-per-task", "0", "--retries", "1"])
    rc = args.func(args)
    out = capsys.readouterr().out
    assert rc == 1, out
    failed = re.findall(r"^failed: static_failing/baseline/(\S+) after 2 attempt\(s\): .*; log: (\S+)$", out, re.M)
    assert [name for name, _log in failed] == ["synthetic-03"], out
    log = Path(failed[0][1])
    assert log.is_file() and log.parent == ws / "logs"  # the toolkit's tracker log
    problems = outputs.check_results(ws, "static_failing")
    assert problems and all("/synthetic-03:" in p for p in problems)
    assert "evaluate static_failing: INCOMPLETE" in out
    assert "pack static_failing" not in out


def test_cuda_visible_devices_reaches_the_tracker(ws, ray_cluster):
    summary, _ = _run(ws, "static_probe", gpus_per_task=1)
    assert len(summary.outcomes) == SEQUENCES and not summary.failed
    seen = {p.stem: p.read_text().split() for p in (ws.parent / "probe").glob("*.txt")}
    assert sorted(seen) == [f"synthetic-0{k}" for k in range(1, SEQUENCES + 1)]
    assert {gpus for gpus, _threads in seen.values()} <= {"0", "1"}  # Ray's assignment, one declared GPU each
    assert {threads for _gpus, threads in seen.values()} == {"1"}  # --cpus-per-task 1


def test_every_node_must_see_the_paths(ray_cluster, tmp_path):
    import socket

    distributed.check_nodes([tmp_path])
    with pytest.raises(UserError, match=rf"node {re.escape(socket.gethostname())} .*does not see {tmp_path / 'absent'}"):
        distributed.check_nodes([tmp_path, tmp_path / "absent"])


def test_resources_follow_the_cluster():
    two_gpu_nodes = [{"CPU": 8.0, "GPU": 2.0}, {"CPU": 8.0, "GPU": 2.0}]
    assert distributed._resolve_resources(two_gpu_nodes, None, None) == distributed.Resources(4.0, 1.0, 4)
    assert distributed._resolve_resources(two_gpu_nodes, 2, 0.5) == distributed.Resources(2.0, 0.5, 8)
    assert distributed._resolve_resources([{"CPU": 2.0}], None, None) == distributed.Resources(1.0, 0.0, 2)
    with pytest.raises(UserError, match="--gpus-per-task 1 but no Ray node has more than 0 GPU"):
        distributed._resolve_resources([{"CPU": 2.0}], None, 1)
    with pytest.raises(UserError, match="--cpus-per-task 12 but no Ray node has more than 8 CPU"):
        distributed._resolve_resources(two_gpu_nodes, 12, None)  # 16 in all, but a task runs on one node


def test_a_non_ascii_workspace_is_evaluated_through_an_ascii_symlink(ws, ray_cluster, tmp_path):
    """libtrax rejects non-ASCII frame paths; the runner reaches such a workspace through a symlink."""
    copy = tmp_path / "jos\u00e9" / "ws"
    shutil.copytree(ws, copy, ignore=shutil.ignore_patterns("results", "cache", ".vots-*"))
    summary, complete = _run(copy, "static_resume")
    assert complete == 0 and len(summary.outcomes) == SEQUENCES and not summary.failed
    assert len(_bins(copy, "static_resume")) == SEQUENCES * 2
