"""`vots-tracker sweep` with evaluate's guarantees: staged writes, resume after SIGKILL, retries, refinement faults.

Real pipeline (hqsam_gate_smoke, random-init weights) on small synthetic sequences, run
sequentially in one process (what the Ray workers run too). The kill comes from
tests/e2e/sweep_kill_hook.py (SIGKILL of the sweep's own process at a chosen write or
publication); the refinement faults from tests/reliability/refine_fault_hook.py, injected in
the sweep and in `vot evaluate`'s tracker processes alike (tests/reliability/faulty_refiner_server.py).
Result trajectories (`*.bin`) are compared byte for byte; the per-frame time files hold wall
times, so only their length can agree.
"""

import logging
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import vots_tracker.evaluation.outputs as outputs
import vots_tracker.evaluation.toolkit as toolkit
import vots_tracker.workspace.folder as wsmod
from vots_tracker.evaluation.staged import STAGING_DIR
from vots_tracker.evaluation.sweep.cli import run_sweep

E2E_DIR = Path(__file__).resolve().parent
RELIABILITY_DIR = E2E_DIR.parent / "reliability"
sys.path.insert(0, str(RELIABILITY_DIR))  # the refinement fault hook

import refine_fault_hook  # noqa: E402

BASE = "hqsam_gate_smoke"
TAUS = "0,0.5,1"
DERIVED = [f"{BASE}_tau0", f"{BASE}_tau0p5", f"{BASE}_tau1"]
FAULT_TAUS = "0,1"  # refinement on (its fault matters) and off (tau 1: DMAOT alone, never faults)
FAULTED = [f"{BASE}_tau0", f"{BASE}_tau1"]
FRAMES = 3
SIZE = (96, 72)

pytestmark = pytest.mark.slow


def files_of(ws: Path, trackers=DERIVED):
    """{tracker/relative path: bytes} of the trackers' results."""
    return {f"{t}/{p.relative_to(ws / 'results' / t)}": p.read_bytes()
            for t in trackers for p in sorted((ws / "results" / t).rglob("*")) if p.is_file()}


def assert_same_results(ours, reference):
    assert sorted(ours) == sorted(reference)
    for name, data in ours.items():
        if name.endswith(".bin"):
            assert data == reference[name], f"{name} differs"
        else:  # per-frame wall times: one line per frame
            assert len(data.splitlines()) == len(reference[name].splitlines()) == FRAMES, name


def killed_sweep(ws: Path, kill_at: str) -> subprocess.CompletedProcess:
    """The sweep as a user runs it, in its own process, SIGKILLed at ``kill_at`` (write:N, publish:N)."""
    args = ["sweep", "--workspace", str(ws), "--tracker", BASE, "--tau", TAUS]
    return subprocess.run([sys.executable, str(E2E_DIR / "sweep_kill_hook.py"), kill_at, *args],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, smoke_weights):
    """A workspace with two synthetic sequences and no results yet (copied by each test)."""
    return wsmod.init_workspace(tmp_path_factory.mktemp("sweep-crash") / "ws", synthetic=2, frames=FRAMES, size=SIZE,
                                objects=2, weights_dir=smoke_weights)


def copy_of(ws: Path, folder: Path) -> Path:
    return Path(shutil.copytree(ws, folder / "ws", symlinks=True))


def uninterrupted(ws: Path, taus: str = TAUS) -> None:
    """The sweep's passes without its report (what run_sweep runs before `vot analysis`), in this process."""
    from vots_tracker.evaluation.sweep.cli import base_config
    from vots_tracker.evaluation.sweep.runner import SequenceSweeper, run_tasks
    from vots_tracker.evaluation.sweep.settings import register_derived, settings_from

    base, config = base_config(ws, BASE)
    settings = settings_from(taus, None)
    register_derived(ws / "trackers.ini", base, settings)
    sweeper = SequenceSweeper(ws, BASE, settings, config, ws / "sweeps" / BASE)
    tasks = sweeper.tasks()
    assert sorted(run_tasks(sweeper, tasks)) == sorted(tasks)


@pytest.fixture(scope="module")
def reference(fresh, tmp_path_factory):
    """The uninterrupted sweep's result files, without faults."""
    ws = copy_of(fresh, tmp_path_factory.mktemp("reference"))
    uninterrupted(ws)
    files = files_of(ws)
    assert len([n for n in files if n.endswith(".bin")]) == 3 * 2 * 2  # settings x sequences x objects
    return files


def test_killed_sweep_resumes_to_the_same_files(fresh, reference, tmp_path, capsys, caplog):

    ws = copy_of(fresh, tmp_path / "killed")
    # Killed after the 8th result file: synthetic-01's six were published, synthetic-02's first two only staged.
    killed = killed_sweep(ws, "write:8")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    staged = list((ws / STAGING_DIR).rglob("*.bin"))
    assert len(staged) == 2 and all("synthetic-02" in str(p) for p in staged)
    for tracker in DERIVED:  # what was staged is not in results/: the completeness check sees synthetic-02 missing
        problems = outputs.check_results(ws, tracker)
        assert problems and all("/synthetic-02:" in p for p in problems), problems
    first = {p: p.stat().st_mtime_ns for p in (ws / "results").rglob("synthetic-01/*")}
    assert len(first) == 3 * 2 * 2  # trajectory and time file per setting and object

    # Killed again between two publications: one setting has the new synthetic-02, the others not yet.
    killed = killed_sweep(ws, "publish:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert outputs.check_results(ws, DERIVED[0]) == []
    assert all(outputs.check_results(ws, tracker) for tracker in DERIVED[1:])

    with caplog.at_level(logging.INFO, logger="vots_tracker.evaluation.sweep.runner"):
        assert run_sweep(ws, BASE, TAUS) == 0  # the rerun, to the end (analysis, table)
    assert "results: complete for all 3 derived trackers" in capsys.readouterr().out
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().endswith("; skipped")]
    assert skipped == ["baseline/synthetic-01: every setting has results already; skipped"]
    assert {p: p.stat().st_mtime_ns for p in first} == first  # resumed: synthetic-01 untouched
    assert_same_results(files_of(ws), reference)
    assert not (ws / STAGING_DIR).exists()


def test_refinement_faults_keep_dmaot_masks_like_vot_evaluate(fresh, reference, tmp_path, monkeypatch, capsys,
                                                              caplog):
    """HQ-SAM fails on frame 2 in the sweep and in every derived tracker's `vot evaluate`: same bytes.

    The sweep's first write also fails once: the sequence is retried, as in evaluate.
    """
    from vot.tracker import Trajectory

    from vots_tracker.evaluation.entries import workspace_entries
    from vots_tracker.workspace.trackers_ini import parse_command

    ws = copy_of(fresh, tmp_path / "sweep")
    (ws / "sequences" / "list.txt").write_text("synthetic-01\n")
    refine_fault_hook.install("2", monkeypatch)
    write, failed = Trajectory.write, []

    def write_failing_once(self, storage, name):
        if not failed:
            failed.append(name)
            raise OSError("injected write failure")
        write(self, storage, name)

    monkeypatch.setattr(Trajectory, "write", write_failing_once)
    with caplog.at_level(logging.WARNING, logger="vots_tracker.evaluation.sweep.runner"):
        assert run_sweep(ws, BASE, FAULT_TAUS) == 0
    out = capsys.readouterr().out
    assert "refinement failed: baseline/synthetic-01 on 1 frame(s) (2); DMAOT's masks kept there" in out, out
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retried) == 1 and "attempt 1 of 3" in retried[0] and "injected write failure" in retried[0]
    monkeypatch.undo()
    swept = files_of(ws, FAULTED)
    assert not (ws / STAGING_DIR).exists()

    # The same derived trackers under `vot evaluate`, each tracker process with the same fault.
    evaluated = Path(shutil.copytree(ws, tmp_path / "evaluate" / "ws",
                                     ignore=shutil.ignore_patterns("results", "cache", "sweeps")))
    entries = workspace_entries(ws)
    sections = []
    for name in FAULTED:
        keys = dict(entries[name])
        argv = ["faulty"] + parse_command(keys["command"])
        keys["command"] = (f"import runpy, sys; sys.argv = {argv!r}; "
                           f"runpy.run_path({str(RELIABILITY_DIR / 'faulty_refiner_server.py')!r}, run_name='__main__')")
        keys["env_VOTS_TEST_REFINE_FAULTS"] = "2"
        sections.append(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    (evaluated / "trackers.ini").write_text("\n".join(sections), encoding="utf-8")
    toolkit.run_vot(["evaluate", "--workspace", str(evaluated), *FAULTED], evaluated, "evaluate", offline=True)
    for name in FAULTED:
        assert outputs.check_results(evaluated, name) == []
    assert_same_results(files_of(evaluated, FAULTED), swept)

    def bins(tracker):
        return {n.split("/", 1)[1]: d for n, d in swept.items() if n.startswith(tracker + "/") and n.endswith(".bin")}

    assert bins(FAULTED[0]) != bins(FAULTED[1])  # refinement did change the frames it did not fail on

    def unfaulted(tracker):  # the same sequence and setting, swept without the fault
        return {n.split("/", 1)[1]: d for n, d in reference.items()
                if n.startswith(tracker + "/") and "/synthetic-01/" in n and n.endswith(".bin")}

    assert bins(FAULTED[0]) != unfaulted(FAULTED[0])  # the fault changed tau 0's masks: the match says something
    assert bins(FAULTED[1]) == unfaulted(FAULTED[1])  # and not tau 1's: without refinement nothing can fail
