"""`vots-tracker sweep` against `vot evaluate` of each derived tracker (real pipeline, random-init weights).

The sweep runs its sequence as a task on a local Ray instance (the same per-sequence
function runs in-process without --workers). One synthetic sequence (4 frames, 160x120, 2 objects, one arriving late): the sweep of
hqsam_gate_smoke over tau 0, 0.5, 1 must write, for every derived tracker, the same
files as the toolkit running that tracker's own `serve` process, with byte-identical
mask trajectories (`*.bin`) and gate decision files; tau 1 must equal the DMAOT-only entry of the same model.
"""

import re
import shutil
from pathlib import Path

import pytest

import vots_tracker.evaluation.outputs as outputs
import vots_tracker.evaluation.toolkit as toolkit
import vots_tracker.workspace.folder as wsmod
from vots_tracker.evaluation.sweep.cli import run_sweep
from vots_tracker.evaluation.sweep.parallel import RayOptions
from vots_tracker.evaluation.sweep.runner import SequenceSweeper
from vots_tracker.evaluation.sweep.settings import settings_from

pytestmark = pytest.mark.xdist_group("ray")  # one Ray cluster at a time under xdist (tests/conftest.py)

SWEPT = ["hqsam_gate_smoke_tau0", "hqsam_gate_smoke_tau0p5", "hqsam_gate_smoke_tau1"]


def files_of(results: Path, tracker: str):
    folder = results / tracker
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_sweep_writes_exactly_what_vot_evaluate_writes(tmp_path, capsys, no_download):
    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=1, frames=4, size=(160, 120), objects=2)
    assert run_sweep(ws, "hqsam_gate_smoke", "0,0.5,1", ray=RayOptions(workers=2)) == 0  # local Ray
    out = capsys.readouterr().out

    table = [line.split() for line in out.splitlines() if line.startswith("hqsam_gate_smoke_tau")]
    assert [row[0] for row in table] == SWEPT and [row[1] for row in table] == ["0", "0.5", "1"]
    assert table[2][4] == "0.0000" and float(table[0][4]) > 0  # acceptance: none at tau 1, some at tau 0
    png = Path(re.search(r"^plot: (.+\.png)$", out, re.M).group(1))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(str(png)).shape[:2] == (450, 700)

    swept = {tracker: files_of(ws / "results", tracker) for tracker in SWEPT}
    gate_logs = ws / "logs" / "gate"  # each derived tracker's gate decisions, as its own `serve` keeps them
    swept_decisions = {tracker: files_of(gate_logs, tracker) for tracker in SWEPT}
    assert sorted(swept_decisions["hqsam_gate_smoke_tau0"]) == ["synthetic-01.jsonl"]
    assert swept_decisions["hqsam_gate_smoke_tau1"] == {}  # tau 1 does not refine: no gate, no decisions
    shutil.rmtree(gate_logs)
    # A rerun skips sequences that every setting already has (no model is loaded).
    sweeper = SequenceSweeper(ws, "hqsam_gate_smoke", settings_from("0,0.5,1", None), None,
                              ws / "sweeps" / "hqsam_gate_smoke")
    counts = sweeper.run(sweeper.tasks()[0])
    assert sweeper._tracker is None and counts.gate["hqsam_gate_smoke_tau1"][1] == 0
    shutil.rmtree(ws / "results")
    toolkit.run_vot(["evaluate", "--workspace", str(ws), *SWEPT, "dmaot_smoke"], ws, "evaluate", offline=True)
    for tracker in SWEPT:
        assert files_of(gate_logs, tracker) == swept_decisions[tracker], tracker  # byte for byte
        assert outputs.check_results(ws, tracker) == []
        evaluated = files_of(ws / "results", tracker)
        assert sorted(evaluated) == sorted(swept[tracker])  # same names: trajectories and time files
        for name, data in evaluated.items():
            if name.endswith(".bin"):
                assert data == swept[tracker][name], f"{tracker}/{name} differs from vot evaluate"
            else:  # per-frame times: the shared pass's, one line per frame
                assert len(data.splitlines()) == len(swept[tracker][name].splitlines()) == 4

    def bins(tracker):
        return {n: d for n, d in files_of(ws / "results", tracker).items() if n.endswith(".bin")}

    assert bins("hqsam_gate_smoke_tau1") == bins("dmaot_smoke")
    assert bins("hqsam_gate_smoke_tau0") != bins("hqsam_gate_smoke_tau1")  # the gate changed something
    assert no_download == []
