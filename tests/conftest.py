"""Shared fixtures: random-init checkpoints in the official formats, small synthetic clips; how the suite runs.

How the suite stays fast (README "Tests and benchmarks"), for whoever adds a test:

* ``make test`` runs pytest-xdist with 2 workers (``TEST_WORKERS``); plain ``pytest`` runs serially.
  Each worker, and every process it starts, runs torch on one thread (``OMP_NUM_THREADS=1``,
  set below before torch is imported); a test that needs more threads asks for them with the
  ``torch_threads`` fixture (e.g. the overlapped embedding runs only with more than one), which
  restores the count afterwards. Never leave a worker at two threads (``torch.set_num_threads``,
  a config's ``threads``, a Ray task with 2 CPUs): beside the other busy worker, two OpenMP threads
  wait on each other and a test runs 2-4x slower. The smoke presets fix ``threads: 1``.
* Tests that must not run next to one of their kind (a Ray cluster, a SLURM cluster, a fixed
  resource) carry ``@pytest.mark.xdist_group("NAME")``: ``--dist loadgroup`` runs one group on one
  worker, one test after another. Ray tests use the group ``ray``. (pytest 9.2 broke the grouping of
  pytest-xdist 3.8: setup.cfg pins pytest below 9.2, and a grouped test fails at setup, saying why,
  where the grouping is lost.)
* Tests that need the machine to themselves (the memory-pressure test sets Ray's memory monitor
  just above the memory in use when it starts) are marked ``serial``: ``make test`` runs them
  after the xdist run, alone.
* Expensive things (checkpoints, loaded models, evaluated workspaces) are built once per session
  or module: ``smoke_weights`` and ``smoke_tracker`` below; under xdist "once" is once per worker.
  Everything a test writes goes under ``tmp_path``/``tmp_path_factory`` (never a fixed path or port).
* ``--cpu-durations=N`` lists the N tests with the most CPU time (the test process and the
  subprocesses it waited for, summed over its setup, call and teardown) with their wall time:
  unlike wall time, CPU time does not grow when other work shares the machine.
"""

import os
import resource
import time
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per worker (and per process a test starts): 2 workers fill 2 cores.
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VOTS_TRACKER_SHARED_DATA", ROOT.parent / "shared" / "data"))

SMOKE_FILES = ("DeAOTT_PRE_YTB_DAV.pth", "sam_hq_vit_tiny.pth")


def write_random_weights(folder: Path, names=SMOKE_FILES) -> Path:
    """Random-init checkpoints under their official names, through the same writers `weights init-random` uses."""
    from vots_tracker.weights.random_init import init_random

    init_random(folder, list(names))
    return folder


@pytest.fixture(scope="session")
def smoke_weights(tmp_path_factory) -> Path:
    return write_random_weights(tmp_path_factory.mktemp("smoke-weights"))


@pytest.fixture(scope="session")
def smoke_tracker(smoke_weights):
    """``hqsam_gate_smoke`` loaded once per session (DeAOT-T + HQ-SAM vit_tiny, random init).

    Stateless between sequences: tests that need other options build a ``Tracker`` on its models
    (``Tracker(config, tracker.dmaot_model, tracker.refiner, tracker.device)``) instead of loading again.
    """
    from vots_tracker.config import make_config
    from vots_tracker.server.session import Tracker

    return Tracker.from_config(make_config("hqsam_gate_smoke", weights_dir=str(smoke_weights)))


@pytest.fixture
def torch_threads():
    """``torch_threads(n)``: run this test with n torch threads (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- xdist groups


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Fail grouped tests when ``--dist loadgroup`` ignores ``xdist_group``: pytest-xdist marks a grouped
    test by a ``@NAME`` suffix on its node id, which pytest 9.2 loses; Ray tests would then run side by
    side and session fixtures be built on both workers. (Raising here would crash the worker without
    the message, so each such test fails at setup with it.)"""
    if not (os.environ.get("PYTEST_XDIST_WORKER") and getattr(config.option, "loadgroup", False)):
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and not item.nodeid.endswith("@" + "_".join(names)):
            item.stash[_UNGROUPED] = True


def pytest_runtest_setup(item):
    if item.stash.get(_UNGROUPED, False):
        pytest.fail(f"--dist loadgroup ignored this test's xdist_group: pytest-xdist does not work with pytest "
                    f"{pytest.__version__}; install the versions setup.cfg pins", pytrace=False)


_UNGROUPED = pytest.StashKey[bool]()


# --------------------------------------------------------------------------- --cpu-durations


def pytest_addoption(parser):
    parser.addoption("--cpu-durations", type=int, default=None, metavar="N",
                     help="list the N tests with the most CPU time (process + waited-for children)")


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    item.stash[_PHASE_START] = _cpu_seconds()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    now = _cpu_seconds()
    outcome.get_result().user_properties.append(("cpu_s", now - item.stash.get(_PHASE_START, now)))
    item.stash[_PHASE_START] = now


_PHASE_START = pytest.StashKey[float]()
_CPU = {}  # nodeid -> [cpu seconds, wall seconds], filled from reports (also xdist workers')
_STARTED = time.monotonic()


def pytest_runtest_logreport(report):
    totals = _CPU.setdefault(report.nodeid, [0.0, 0.0])
    totals[0] += dict(report.user_properties).get("cpu_s", 0.0)
    totals[1] += report.duration


def pytest_terminal_summary(terminalreporter, config):
    count = config.getoption("--cpu-durations")
    if count is None or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rows = sorted(_CPU.items(), key=lambda kv: kv[1][0], reverse=True)
    cpu = sum(c for c, _ in _CPU.values())
    wall = sum(w for _, w in _CPU.values())
    terminalreporter.write_sep("=", f"slowest {count} CPU durations")
    terminalreporter.write_line(f"all {len(rows)} tests: {cpu:.1f} s CPU, {wall:.1f} s wall summed over tests, "
                                f"{time.monotonic() - _STARTED:.1f} s session wall")
    for nodeid, (cpu_s, wall_s) in rows[:count]:
        terminalreporter.write_line(f"{cpu_s:8.2f}s cpu {wall_s:8.2f}s wall  {nodeid}")
