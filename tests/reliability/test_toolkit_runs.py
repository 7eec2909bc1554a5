"""The real toolkit (vot evaluate) against the server: a workspace under a non-ASCII path, refinement faults.

* A plain ``vot evaluate`` in a workspace whose path holds non-ASCII characters fails every
  sequence inside libtrax; the quit reason the toolkit logs must say so and what to do.
* ``toolkit.run_vot`` (what ``smoke`` and ``evaluate`` use) reaches the same workspace
  through an ASCII symlink and completes, saying so in one INFO line. In the same run a
  test-only trackers.ini entry whose HQ-SAM fails on chosen frames completes the sequence,
  with DMAOT's masks on those frames.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FAULTY_FRAMES = "1,2"
SIZE = 64  # the smallest synthetic frame the workspace generator makes  # frame numbers after the first, as the session counts them

FAULTY_ENTRY = """
[faulty_refiner]
label = HQ-SAM failing on chosen frames (test only)
protocol = traxpython
python = {python}
paths = {root}
command = import runpy, sys; sys.argv = ['faulty', 'serve', '--preset', 'hqsam_gate_smoke', '--weights-dir', '{weights}']; runpy.run_path('{script}', run_name='__main__')
env_VOTS_TEST_REFINE_FAULTS = {faults}
env_LD_LIBRARY_PATH = $LD_LIBRARY_PATH
timeout = 300
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, smoke_weights):
    import vots_tracker.workspace.folder as wsmod

    ws = tmp_path_factory.mktemp("toolkit") / "jos\u00e9" / "ws"
    wsmod.init_workspace(ws, synthetic=1, frames=4, size=(SIZE, SIZE), objects=2, weights_dir=smoke_weights)
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(FAULTY_ENTRY.format(python=sys.executable, root=ROOT, weights=smoke_weights,
                                         script=HERE / "faulty_refiner_server.py", faults=FAULTY_FRAMES))
    return ws


def read_regions(ws: Path, tracker: str):
    """Per object, per frame: the regions the toolkit stored for the only sequence."""
    from vot.region.io import read_trajectory

    folder = next((ws / "results" / tracker).rglob("*_001.*")).parent
    trajectories = sorted(folder.glob("*_001.*"))
    return [read_trajectory(str(path)) for path in trajectories]


@pytest.mark.slow
def test_plain_vot_evaluate_names_the_non_ascii_path(workspace, tmp_path):
    from vots_tracker.evaluation.toolkit import toolkit_env, vot_command

    proc = subprocess.run(vot_command(["evaluate", "--workspace", str(workspace), "dmaot_smoke"]), cwd=workspace,
                          env=toolkit_env(workspace, offline=True), capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    lines = [line for line in output.splitlines() if "non-ASCII characters" in line]
    assert lines, output[-3000:]
    assert "jos\\xe9" in lines[0] and "ASCII-only symlink" in lines[0]  # libtrax carries ASCII only
    assert not (workspace / "results" / "dmaot_smoke").exists() or not list((workspace / "results" / "dmaot_smoke").rglob("*.bin"))


@pytest.mark.slow
def test_run_vot_goes_through_an_ascii_symlink_and_faults_cost_frames(workspace, caplog):
    from vots_tracker.evaluation import outputs, toolkit

    with caplog.at_level(logging.INFO, logger="vots_tracker.evaluation.toolkit"):
        run = toolkit.run_vot(["evaluate", "--workspace", str(workspace), "--force", "dmaot_smoke", "faulty_refiner"],
                              workspace, "evaluate-non-ascii", offline=True)
    routes = [r.getMessage() for r in caplog.records if "non-ASCII" in r.getMessage()]
    assert len(routes) == 1 and "symlink" in routes[0], routes
    for tracker in ("dmaot_smoke", "faulty_refiner"):
        assert outputs.check_results(workspace, tracker) == [], run.log.read_text()[-3000:]
    dmaot, faulty = read_regions(workspace, "dmaot_smoke"), read_regions(workspace, "faulty_refiner")
    assert len(dmaot) == len(faulty) == 2
    bounds = (0, 0, SIZE - 1, SIZE - 1)
    for frame in (int(f) for f in FAULTY_FRAMES.split(",")):
        for obj_dmaot, obj_faulty in zip(dmaot, faulty):
            assert np.array_equal(obj_dmaot[frame].rasterize(bounds), obj_faulty[frame].rasterize(bounds))
