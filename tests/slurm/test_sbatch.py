"""examples/slurm/evaluate.sbatch submitted with the real `sbatch` to a real SLURM.

Run by `make test-slurm` (which starts the one-node cluster of examples/slurm/local-cluster.sh
and sets VOTS_TEST_SLURM=1); skipped, with the reason, without that variable, without the SLURM
commands, or when no node takes jobs, so `make test` passes where SLURM is absent.

Every job runs the recipe unchanged (Ray token authentication on, its own ports and temp dir)
on a synthetic workspace with the model-free static tracker (tests/e2e/vots_static_tracker.py),
and the results are compared byte for byte with a sequential `vot evaluate`. A job leaves no
process: none with its SLURM_JOB_ID in the environment, none naming its Ray temp dir.
"""

import contextlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "examples" / "slurm" / "evaluate.sbatch"
E2E_DIR = ROOT / "tests" / "e2e"
SEQUENCES = 4
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE"}
JOB_LIMIT_S = 420
# The static tracker, slowed per frame so that a scancel lands while some sequences are done and others not.
SLOW_WAIT = "import time, trax; _w = trax.Server.wait; trax.Server.wait = lambda s: (time.sleep(0.7), _w(s))[1]; "
# Far slower than the job's time limit allows (4 x 6 frames x 4 s, 2 at once: 48 s of frames plus start-up).
STUCK_WAIT = SLOW_WAIT.replace("0.7", "4")

pytestmark = pytest.mark.slow


def _entry(name: str, prefix: str = "") -> str:
    return (f"\n[{name}]\nlabel = {name} (test)\nprotocol = traxpython\npython = {sys.executable}\n"
            f"command = {prefix}import vots_static_tracker; vots_static_tracker._main()\npaths = {E2E_DIR}\n"
            "timeout = 120\n")


@pytest.fixture(scope="module")
def cluster():
    """The partition's node count and CPUs; skips (with the reason) where no SLURM takes jobs."""
    if os.environ.get("VOTS_TEST_SLURM") != "1":
        pytest.skip("SLURM job tests run with `make test-slurm` (VOTS_TEST_SLURM=1)")
    missing = [c for c in ("sbatch", "sinfo", "scontrol", "scancel", "squeue") if not shutil.which(c)]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} not found): sudo examples/slurm/local-cluster.sh")
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T %c"], capture_output=True, text=True, timeout=20).stdout
    except subprocess.TimeoutExpired:
        pytest.skip("sinfo did not answer within 20 s: slurmctld is not running")
    nodes = [line.split() for line in out.splitlines() if re.match(r"(idle|mixed)", line)]
    if not nodes:
        pytest.skip(f"no SLURM node takes jobs (sinfo: {out.strip() or 'nothing'}): sudo examples/slurm/local-cluster.sh")
    return min(2, int(nodes[0][1].rstrip("+")))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    import vots_tracker.workspace.folder as wsmod

    def placeholders(folder, names=()):  # the static tracker needs no checkpoints
        Path(folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            (Path(folder) / name).write_bytes(b"placeholder")

    root = tmp_path_factory.mktemp("slurm")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wsmod, "init_random_weights", placeholders)
        ws = wsmod.init_workspace(root / "ws", synthetic=SEQUENCES, frames=6, size=(64, 64), objects=2,
                                  weights_dir=root / "weights")
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(_entry("static") + _entry("static_slow", SLOW_WAIT) + _entry("static_stuck", STUCK_WAIT))
    return ws


@pytest.fixture(scope="module")
def sequential(ws, tmp_path_factory):
    """`vot evaluate static` in a copy of the workspace: {relative path: bytes} (every static entry gives these)."""
    import vots_tracker.evaluation.toolkit as toolkit

    copy = tmp_path_factory.mktemp("slurm-sequential") / "ws"
    shutil.copytree(ws, copy)
    toolkit.run_vot(["evaluate", "--workspace", str(copy), "static"], copy, "evaluate", offline=True)
    return _bins(copy, "static")


def _bins(ws: Path, tracker: str):
    folder = ws / "results" / tracker / "baseline"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob("*/*.bin"))}


def _submit(ws: Path, tracker: str, cpus: int, *extra: str) -> str:
    env = dict(os.environ, VENV=sys.prefix, WORKSPACE=str(ws), TRACKERS=tracker, EVALUATE_ARGS="--cpus-per-task 1",
               RAY_OBJECT_STORE_BYTES=str(128 * 1024 * 1024))
    done = subprocess.run(
        ["sbatch", "--parsable", "--nodes=1", "--ntasks-per-node=1", "--gpus-per-node=0", f"--cpus-per-task={cpus}",
         "--time=10", f"--job-name=vots-test-{tracker}", f"--output={ws.parent}/job-%j.log", *extra, str(SBATCH)],
        capture_output=True, text=True, env=env, cwd=ws.parent, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def _job(job: str) -> dict:
    out = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=30).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def _wait(job: str, ws: Path, limit: float = JOB_LIMIT_S) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        info = _job(job)
        if info.get("JobState") in FINAL_STATES:
            return info
        time.sleep(1)
    subprocess.run(["scancel", job], timeout=30)
    pytest.fail(f"job {job} not finished after {limit:.0f} s ({info.get('JobState')}); log:\n{_log(ws, job)[-3000:]}")


def _log(ws: Path, job: str) -> str:
    path = ws.parent / f"job-{job}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _job_processes(job: str):
    """PIDs (with command lines) of processes left by the job: its SLURM_JOB_ID, or its Ray temp dir."""
    marker, tmp = f"SLURM_JOB_ID={job}".encode(), f"/vray{job}j".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ or tmp in cmdline:
            found.append(proc.name + ": " + cmdline.replace(b"\0", b" ")[:120].decode(errors="replace"))
    return found


def _assert_nothing_left(job: str):
    deadline = time.monotonic() + 15  # a process may take a moment to vanish from /proc
    while (left := _job_processes(job)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == [], f"job {job} left processes: {left}"
    assert not Path(f"/tmp/vray{job}j").exists()


def _job_token(job: str, limit: float = 120) -> str:
    """The Ray token a running job's processes hold (their environment), and a check that no command line shows it."""
    marker = f"SLURM_JOB_ID={job}".encode()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        tokens, cmdlines = set(), []
        for proc in Path("/proc").iterdir():
            try:
                environ = (proc / "environ").read_bytes().split(b"\0") if proc.name.isdigit() else []
                if marker in environ:
                    cmdlines.append((proc / "cmdline").read_bytes())
                    tokens |= {e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"RAY_AUTH_TOKEN=")}
            except OSError:
                continue
        if tokens:
            assert len(tokens) == 1, tokens  # one token for the whole job
            token = tokens.pop()
            assert not [c for c in cmdlines if token.encode() in c]
            return token
        time.sleep(0.5)
    pytest.fail(f"no process of job {job} holds a Ray token after {limit:.0f} s")


def _complete_sequences(ws: Path, tracker: str):
    """Sequence folders in results/ (evaluate moves a sequence there only once it is complete)."""
    folder = ws / "results" / tracker / "baseline"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_sbatch_job_completes_like_sequential_vot_evaluate(cluster, ws, sequential):
    import vots_tracker.evaluation.outputs as results

    job = _submit(ws, "static", cluster)
    info = _wait(job, ws)
    log = _log(ws, job)
    assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), log[-3000:]
    assert "Ray nodes joined: 1/1" in log
    assert "evaluate static: ok, results complete" in log
    assert re.search(r"^Q static: [0-9.]+$", log, re.M), log[-3000:]
    assert "InvalidAuthToken" not in log and "RAY_AUTH_TOKEN" not in log
    head = re.search(r"^Ray head: \S+ \(([0-9.]+):(\d+)\)", log, re.M)
    assert head and not head.group(1).startswith("127.") and head.group(2) != "6379", log[:500]
    assert results.check_results(ws, "static") == []
    assert _bins(ws, "static") == sequential
    _assert_nothing_left(job)


def test_scancel_mid_run_then_resubmit_resumes(cluster, ws, sequential):
    import vots_tracker.evaluation.outputs as results

    first = _submit(ws, "static_slow", cluster)
    token = _job_token(first)
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    deadline = time.monotonic() + JOB_LIMIT_S
    private = Path(f"/tmp/vray{first}j")
    while not (private / "r").exists():  # the Ray step makes it (the batch step holds the token already)
        assert time.monotonic() < deadline, _log(ws, first)[-3000:]
        time.sleep(0.2)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700  # Ray's own temp dir, inside it, is 0777
    while not _complete_sequences(ws, "static_slow"):  # cancel once some sequences are done
        assert time.monotonic() < deadline and _job(first).get("JobState") == "RUNNING", _log(ws, first)[-3000:]
        time.sleep(0.2)
    subprocess.run(["scancel", first], check=True, timeout=30)
    cancelled_at = time.monotonic()
    info = _wait(first, ws, limit=60)
    assert info["JobState"] == "CANCELLED"
    assert time.monotonic() - cancelled_at < 45  # ends, never stuck completing (KillWait is 10 s here)
    _assert_nothing_left(first)
    done = _complete_sequences(ws, "static_slow")
    assert 0 < len(done) < SEQUENCES, done  # the cancel did land mid-run
    folder = ws / "results" / "static_slow" / "baseline"
    kept = {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for s in done for p in (folder / s).iterdir()}
    assert token not in _log(ws, first)

    second = _submit(ws, "static_slow", cluster)
    assert _job_token(second) != token  # one token per job
    info = _wait(second, ws)
    log = _log(ws, second)
    assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), log[-3000:]
    assert f"{SEQUENCES - len(done)} sequence task(s) to run, {len(done)} already complete" in log
    assert {p: (Path(p).stat().st_ino, Path(p).stat().st_mtime_ns) for p in kept} == kept  # not run again
    assert results.check_results(ws, "static_slow") == []
    assert _bins(ws, "static_slow") == sequential
    _assert_nothing_left(second)


def test_failing_driver_ends_the_job_and_its_ray(cluster, ws):
    job = _submit(ws, "no_such_tracker", cluster)
    info = _wait(job, ws)
    log = _log(ws, job)
    assert info["JobState"] == "FAILED" and info["ExitCode"] != "0:0", log[-3000:]
    assert "Ray nodes joined: 1/1" in log  # it failed in the driver, with Ray running
    assert re.search(r"^vots-tracker: error: .*no_such_tracker", log, re.M), log[-3000:]
    _assert_nothing_left(job)


def test_time_limit_ends_the_job_and_its_ray(cluster, ws):
    job = _submit(ws, "static_stuck", cluster, "--time=1")
    info = _wait(job, ws, limit=240)  # SLURM checks limits about every 30 s
    assert info["JobState"] == "TIMEOUT", _log(ws, job)[-3000:]
    _assert_nothing_left(job)
    folder = ws / "results" / "static_stuck" / "baseline"
    for sequence in _complete_sequences(ws, "static_stuck"):  # what is there is complete
        assert len(list((folder / sequence).glob("*.bin"))) == 2


def test_unknown_partition_is_one_line_naming_it(cluster, ws):
    name = f"nosuch{uuid.uuid4().hex[:6]}"
    before = sorted(str(p) for p in (ws / "results").rglob("*")) if (ws / "results").exists() else []
    env = dict(os.environ, VENV=sys.prefix, WORKSPACE=str(ws), TRACKERS="static")
    good = ["--nodes=1", "--gpus-per-node=0", "--cpus-per-task=1", f"--job-name={name}"]  # only the partition is wrong
    plain = subprocess.run(["sbatch", f"--partition={name}", *good, str(SBATCH)],
                           capture_output=True, text=True, env=env, cwd=ws.parent, timeout=60)
    # sbatch's own answer: two lines (slurm-wlm 22.05), the first names the partition; nothing is queued.
    assert plain.returncode != 0 and f"invalid partition specified: {name}" in plain.stderr, plain.stderr
    checked = subprocess.run(["bash", str(SBATCH), *good], capture_output=True, text=True,
                             env=dict(env, PARTITION=name), cwd=ws.parent, timeout=60)
    assert checked.returncode == 2
    assert checked.stderr.strip().splitlines() == [checked.stderr.strip()]
    assert re.match(rf"evaluate\.sbatch: error: SLURM partition '{name}' does not exist \(partitions: \S+\)$",
                    checked.stderr.strip()), checked.stderr
    queued = subprocess.run(["squeue", "-h", "-n", name], capture_output=True, text=True, timeout=30).stdout
    assert queued.strip() == ""
    after = sorted(str(p) for p in (ws / "results").rglob("*")) if (ws / "results").exists() else []
    assert after == before


def _pids_naming(text: str):
    """PIDs whose environment carries the recipe's marker for ``text`` or whose command line names it."""
    marker, found = f"VOTS_RAY_JOB={text}".encode(), []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (marker in (proc / "environ").read_bytes().split(b"\0")
                                        or text.encode() in (proc / "cmdline").read_bytes()):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_node_cleanup_stops_this_jobs_ray_only(tmp_path):
    """The recipe's per-node step (its own functions, no SLURM): SIGTERM stops its Ray, also a process
    that left the tree, and leaves another Ray cluster on the node alone (what `ray stop` would not)."""
    if os.environ.get("VOTS_TEST_SLURM") != "1":
        pytest.skip("SLURM job tests run with `make test-slurm` (VOTS_TEST_SLURM=1)")
    text = SBATCH.read_text()
    functions = text[text.index("free_port() {"):text.index("head_address() {")]
    (tmp_path / "functions.sh").write_text(functions)
    bindir = str(Path(sys.executable).parent)
    jobs, nodes = {}, {}
    for name in ("a", "b"):
        jobs[name] = f"/tmp/vrayT{uuid.uuid4().hex[:6]}j"
        script = f"source {tmp_path}/functions.sh; RAY_HEAD_PORT=$(free_port) ray_node"
        env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", RAY_JOB_TMP=jobs[name], SLURM_NODEID="0",
                   RAY_HEAD_IP="127.0.0.1", RAY_OBJECT_STORE_BYTES=str(80 * 1024 * 1024), STOP_WAIT="8",
                   SLURM_CPUS_PER_TASK="1", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=uuid.uuid4().hex * 2)
        nodes[name] = subprocess.Popen(["bash", "-c", script], env=env, stdout=open(tmp_path / f"{name}.log", "w"),
                                       stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not all(list(Path(jobs[n]).glob("r/session_*/logs/raylet.out")) for n in jobs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in nodes.values()), \
                (tmp_path / "a.log").read_text()[-2000:] + (tmp_path / "b.log").read_text()[-2000:]
            time.sleep(0.5)
        time.sleep(2)  # the raylets start their agents and workers
        # A process of job a that left Ray's process tree (its parent gone): only the marker finds it.
        escaped = subprocess.Popen(["setsid", "sleep", "300"], env=dict(os.environ, VOTS_RAY_JOB=jobs["a"]))
        ray_a, ray_b = _pids_naming(jobs["a"]), _pids_naming(jobs["b"])
        assert len(ray_a) >= 4 and len(ray_b) >= 3 and escaped.pid in ray_a
        nodes["a"].send_signal(15)  # what SLURM sends on scancel or time-out
        nodes["a"].wait(timeout=30)
        escaped.wait(timeout=10)
        assert _pids_naming(jobs["a"]) == [] and not Path(jobs["a"]).exists()
        assert not Path(jobs["b"], "r").exists() or Path(jobs["b"]).stat().st_mode & 0o777 == 0o700
        assert all(Path(f"/proc/{pid}").exists() for pid in ray_b)  # the other cluster runs on
    finally:
        for proc in nodes.values():
            if proc.poll() is None:
                proc.send_signal(15)
                proc.wait(timeout=30)
        left = {n: _pids_naming(jobs[n]) for n in jobs}
        for pid in left["a"] + left["b"]:  # a failed run must not leave its Ray behind
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        for folder in jobs.values():
            shutil.rmtree(folder, ignore_errors=True)
    assert left == {"a": [], "b": []}
