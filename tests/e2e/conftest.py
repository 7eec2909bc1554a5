"""Fixtures for the toolkit integration tests: offline guards and small synthetic workspaces."""

import socket
import sys
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent

# The model-free TraX tracker (tests/e2e/vots_static_tracker.py), registered next to the real entries.
STATIC_ENTRY = f"""
[static]
label = static masks (test)
protocol = traxpython
python = {sys.executable}
command = vots_static_tracker
paths = {E2E_DIR}
timeout = 60
"""


@pytest.fixture
def no_network(monkeypatch):
    """Fail any socket connection that is not to loopback (the toolkit's downloads, update checks)."""
    attempts = []
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(self, address)
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        attempts.append(address)
        raise OSError(f"test: network access to {address} refused")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


@pytest.fixture
def no_download(monkeypatch):
    """Make every toolkit dataset download raise (and record the attempt)."""
    import vot.dataset

    attempts = []

    def refuse(url, *args, **kwargs):
        attempts.append(url)
        raise AssertionError(f"the toolkit tried to download {url}")

    monkeypatch.setattr(vot.dataset, "download_dataset", refuse)
    import vot.dataset.common

    monkeypatch.setattr(vot.dataset.common, "download_dataset_meta", refuse)
    return attempts


def placeholder_weights(weights_dir, names=()):
    """Stand-in for random-init checkpoints where the models are not needed (tracker never starts)."""
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        (weights_dir / name).write_bytes(b"placeholder")
    return [weights_dir / n for n in names]


@pytest.fixture
def fake_weights(monkeypatch):
    """Skip writing real random-init checkpoints (slow, needs the model code) in plumbing tests."""
    import vots_tracker.workspace.folder as wsmod

    monkeypatch.setattr(wsmod, "init_random_weights", placeholder_weights)


@pytest.fixture
def add_static_tracker():
    """Function that registers the model-free ``static`` tracker in a workspace's trackers.ini."""

    def add(workspace) -> str:
        with open(Path(workspace) / "trackers.ini", "a", encoding="utf-8") as handle:
            handle.write(STATIC_ENTRY)
        return "static"

    return add


@pytest.fixture(scope="session")
def e2e_support():
    """Helpers for module-scoped fixtures (which cannot use the function-scoped ones above)."""
    import types

    return types.SimpleNamespace(static_entry=STATIC_ENTRY, placeholder_weights=placeholder_weights)


@pytest.fixture(scope="session", autouse=True)
def shared_numba_cache(tmp_path_factory):
    """One numba cache for all test workspaces: the analysis code compiles once per session, not per workspace."""
    import os

    if "NUMBA_CACHE_DIR" in os.environ:
        yield os.environ["NUMBA_CACHE_DIR"]
        return
    path = str(tmp_path_factory.mktemp("numba-cache"))
    os.environ["NUMBA_CACHE_DIR"] = path
    try:
        yield path
    finally:
        os.environ.pop("NUMBA_CACHE_DIR", None)


@pytest.fixture(scope="session")
def smoke_cycle(tmp_path_factory):
    """`vots-tracker smoke` once per session (2 sequences x 6 frames, 320x240, 3 objects, the third from frame 2; vot test, evaluate,
    analysis, report, pack of the three smoke trackers): its workspace, exit code and stdout. Tests that need
    evaluated smoke trackers share it instead of evaluating again."""
    import contextlib
    import io
    import types

    from vots_tracker.evaluation.smoke import run_smoke

    ws = tmp_path_factory.mktemp("smoke-cycle") / "smoke"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rc = run_smoke(ws, sequences=2, frames=6, size=(320, 240), objects=3)
    return types.SimpleNamespace(workspace=ws, rc=rc, out=printed.getvalue())


@pytest.fixture(scope="session")
def dmaot_smoke_sequential(tmp_path_factory, smoke_weights):
    """`vot evaluate dmaot_smoke` of the Ray tests' workspace (ray_workspace.py), sequentially, once per session:
    its sequences' digest and {sequence/file: bytes} of the `.bin` results."""
    import types

    from ray_workspace import make_workspace, sequences_digest, sequential_bins

    root = tmp_path_factory.mktemp("dmaot-smoke-sequential")
    ws = make_workspace(root / "source", smoke_weights)
    return types.SimpleNamespace(sequences=sequences_digest(ws), bins=sequential_bins(ws, "dmaot_smoke", root))
