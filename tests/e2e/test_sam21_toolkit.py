"""A SAM 2.1 entry through the VOT toolkit and through `vots-tracker sweep` (random-init weights).

`sam21_gate_smoke` (DeAOT-T + SAM 2.1 Hiera-T, random weights in the official formats) is added
to a synthetic workspace (1 sequence, 3 frames, 2 objects). The sweep over tau 0 and 1 must write,
for each derived tracker, exactly the mask trajectories that `vot evaluate` writes when the toolkit
runs that tracker's own `serve` process; tau 0 accepts SAM 2.1 masks, tau 1 is DMAOT alone.
`sam21_l_gate` runs the same way, on official files (README "SAM 2.1 refiners").
"""

import re
import shutil
from pathlib import Path

import pytest

import vots_tracker.evaluation.outputs as results
import vots_tracker.evaluation.toolkit as toolkit
import vots_tracker.workspace.folder as wsmod
from vots_tracker.evaluation.sweep.cli import run_sweep
from vots_tracker.weights.random_init import init_random
from vots_tracker.workspace.trackers_ini import TrackerEntry, render_trackers_ini

pytest.importorskip("sam2", reason="the sam2 package is not installed (make install installs it)")

SWEPT = ["sam21_gate_smoke_tau0", "sam21_gate_smoke_tau1"]


def bins(ws: Path, tracker: str):
    folder = ws / "results" / tracker
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.bin"))}


@pytest.mark.slow
def test_sweep_over_tau_and_vot_evaluate_with_a_sam21_entry(tmp_path, capsys, no_download):
    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=1, frames=3, size=(96, 72), objects=2)
    init_random(ws / "weights", ["sam2.1_hiera_t"])
    entry = TrackerEntry("sam21_gate_smoke", ["serve", "--preset", "sam21_gate_smoke"],
                         {"label": "DMAOT + SAM 2.1 gate smoke (DeAOT-T + Hiera-T, random init)", "timeout": "300"})
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(render_trackers_ini([entry], weights_dir=ws / "weights"))

    assert run_sweep(ws, "sam21_gate_smoke", "0,1") == 0  # sequences in this process
    out = capsys.readouterr().out
    table = [line.split() for line in out.splitlines() if line.startswith("sam21_gate_smoke_tau")]
    assert [row[0] for row in table] == SWEPT and [row[1] for row in table] == ["0", "1"]
    assert float(table[0][4]) > 0 and table[1][4] == "0.0000"  # SAM 2.1 masks accepted at tau 0 only
    assert re.search(r"^plot: .+\.png$", out, re.M)
    swept = {tracker: bins(ws, tracker) for tracker in SWEPT}
    assert all(swept.values()) and swept[SWEPT[0]] != swept[SWEPT[1]]

    shutil.rmtree(ws / "results")
    toolkit.run_vot(["evaluate", "--workspace", str(ws), *SWEPT], ws, "evaluate", offline=True)
    for tracker in SWEPT:
        assert results.check_results(ws, tracker) == []
        assert bins(ws, tracker) == swept[tracker], f"{tracker}: vot evaluate differs from the sweep"
    assert no_download == []
