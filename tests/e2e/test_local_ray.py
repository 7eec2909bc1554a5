"""Local means local: without --ray-address, `evaluate` starts its own Ray whatever the machine holds.

A `ray start --head` that never met `ray stop` leaves its address in Ray's
`ray_current_cluster` file; `ray.init()` without an address then tries to join that dead
head (and fails with "num_cpus and num_gpus must not be provided"). The test writes such a
file, and a RAY_ADDRESS naming the same dead head, into a Ray temporary folder of its own
(RAY_TMPDIR, so nothing outside the test sees it) and runs the Ray half of `vots-tracker evaluate --workers 2`.
"""

import shutil
import socket
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray cluster at a time under xdist


def _dead_address() -> str:
    """host:port where nothing listens (a port the OS just handed out and took back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def stale_ray_files(monkeypatch):
    """A short private RAY_TMPDIR (Ray's socket paths must stay short) holding a stale ray_current_cluster."""
    import ray

    if ray.is_initialized():  # a Ray left by another module would be used as is: nothing tested
        ray.shutdown()
    folder = tempfile.mkdtemp(prefix="vr-", dir="/tmp")
    address = _dead_address()
    (Path(folder) / "ray").mkdir()
    (Path(folder) / "ray" / "ray_current_cluster").write_text(address + "\n")
    monkeypatch.setenv("RAY_TMPDIR", folder)
    monkeypatch.setenv("RAY_ADDRESS", address)
    yield address
    shutil.rmtree(folder, ignore_errors=True)


def test_evaluate_without_address_ignores_a_stale_cluster(stale_ray_files, tmp_path, e2e_support):
    import ray
    from ray._private import services

    import vots_tracker.workspace.folder as wsmod
    from vots_tracker.evaluation import outputs as results
    from vots_tracker.evaluation import tasks as evaluate_tasks

    monkey = pytest.MonkeyPatch()
    monkey.delenv("RAY_ADDRESS")
    try:  # the trap is real: Ray itself would pick the stale head from the file
        found = services.canonicalize_bootstrap_address(None)  # 127.0.0.1 comes back as the node's IP
        assert found and found.rsplit(":", 1)[1] == stale_ray_files.rsplit(":", 1)[1]
    finally:
        monkey.undo()
    weights = e2e_support.placeholder_weights(tmp_path / "weights")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wsmod, "init_random_weights", e2e_support.placeholder_weights)
        ws = wsmod.init_workspace(tmp_path / "ws", synthetic=2, frames=3, size=(64, 64), objects=1,
                                  weights_dir=weights)
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(e2e_support.static_entry)
    # the Ray half of `vots-tracker evaluate --workers 2` (analysis and pack add nothing here)
    summary, complete = evaluate_tasks.evaluate(ws, ["static"], workers=2, cpus_per_task=1, gpus_per_task=0)
    assert (len(summary.outcomes), complete, summary.failed) == (2, 0, [])
    assert results.check_results(ws, "static") == []
    assert not ray.is_initialized()  # our own Ray, stopped at the end
