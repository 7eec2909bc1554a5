"""The main job (`vots-tracker evaluate`) end to end, offline: the challenge's network sources replaced.

The official checkpoint comes from a loopback HTTP mirror (`$VOTS_TRACKER_WEIGHTS_MIRROR`)
serving a random-init file in the official format, and the workspace already holds synthetic
sequences (so nothing is downloaded from the VOT servers). Everything else is the job as
`make evaluate` runs it: download + verify, workspace refresh, `vot evaluate --persist` of the
repository's `dmaot` entry (SwinB DM-DeAOT-L), the completeness check and `vot pack`.
"""

import functools
import re
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

import vots_tracker.workspace.folder as wsmod
from vots_tracker.weights import registry
from vots_tracker.weights.random_init import init_random

pytestmark = pytest.mark.xdist_group("ray")  # one Ray cluster at a time under xdist (tests/conftest.py)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """A loopback HTTP server over a folder; yields (folder, base URL)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_evaluate_job_downloads_evaluates_checks_and_packs(tmp_path, mirror, monkeypatch, capsys):
    from vots_tracker.evaluation.evaluate import run_evaluate

    folder, url = mirror
    served = init_random(folder, [registry.VOTS_DMAOT_FILE])[0]  # the mirror's copy; its manifest is not served
    (folder / registry.RANDOM_MANIFEST).unlink()
    monkeypatch.setenv("VOTS_TRACKER_WEIGHTS_MIRROR", url)

    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=2, frames=5, size=(160, 120), objects=2)
    weights = tmp_path / "weights"
    # One CPU per task: two torch threads beside another busy test worker wait on each other (about 4x slower).
    rc = run_evaluate(ws, ["dmaot"], weights_dir=weights, echo=False, workers=1, cpus_per_task=1)
    out = capsys.readouterr().out
    assert rc == 0, out

    downloaded = weights / registry.VOTS_DMAOT_FILE
    assert downloaded.read_bytes() == served.read_bytes()
    assert not list(weights.glob("*.part"))
    assert "evaluate dmaot: ok, results complete" in out
    packs = re.findall(r"^pack dmaot: (.+\.zip)$", out, re.M)
    assert len(packs) == 1, out
    names = zipfile.ZipFile(packs[0]).namelist()
    # 2 sequences x 2 objects, one trajectory file each
    assert len({n for n in names if re.match(r"baseline/synthetic-0[12]/synthetic-0[12]_00[12]_001\.", n)}) == 4
    # The refreshed workspace points the tracker at the verified checkpoint folder.
    assert f"env_VOTS_TRACKER_WEIGHTS = {weights.resolve()}" in (ws / "trackers.ini").read_text()
