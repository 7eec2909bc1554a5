"""The whole VOT toolkit cycle, offline, through the real tracker (DMAOT + HQ-SAM + gate, random-init weights).

`vots-tracker smoke` on a small synthetic workspace (2 sequences x 6 frames, 320x240,
3 objects, one of them entering after the first frame): `vot test`, `vot evaluate`
of dmaot_smoke, hqsam_gate_smoke and hqsam_gate_smoke_cycle_redetect through `python -m vots_tracker serve`, the
completeness check, `vot analysis` (Q), `vot report --format html` and `vot pack`.
Sized for 2 CPU cores (a few minutes); needs the server and the models.
"""

import json
import re
import zipfile

import pytest

import vots_tracker.evaluation.outputs as outputs
import vots_tracker.evaluation.toolkit as toolkit
import vots_tracker.workspace.folder as wsmod
from vots_tracker.workspace.trackers_ini import SMOKE_TRACKERS

# The session fixture `smoke_cycle` is built once per xdist worker: keep its users on one worker.
pytestmark = pytest.mark.xdist_group("smoke_cycle")

SMOKE = tuple(SMOKE_TRACKERS)  # dmaot_smoke, hqsam_gate_smoke, hqsam_gate_smoke_cycle_redetect


def test_synthetic_workspace_with_random_weights_loads_offline(tmp_path, no_download, no_network):
    """`workspace init --synthetic` writes real random-init checkpoints and loads without any download."""
    from vot.workspace import Workspace

    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=2, frames=6, size=(160, 120), objects=2)
    manifest = json.loads((ws / "weights" / "RANDOM_WEIGHTS.json").read_text())
    assert set(wsmod.SMOKE_WEIGHTS) <= set(manifest["files"])
    workspace = Workspace.load(str(ws))
    assert len(workspace.dataset) == 2 and {"dmaot_smoke", "hqsam_gate_smoke"} <= set(workspace.registry.identifiers())
    assert no_download == [] and no_network == []


@pytest.mark.slow
def test_smoke_cycle(smoke_cycle):
    ws, rc, out = smoke_cycle.workspace, smoke_cycle.rc, smoke_cycle.out  # run once, shared (conftest.py)
    logs = "\n".join(
        f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in sorted((ws / toolkit.LOG_DIR).glob("*.log"))
    ) if (ws / toolkit.LOG_DIR).is_dir() else ""
    assert rc == 0, out + "\n" + logs

    quality = dict(re.findall(r"^Q (\S+): ([0-9.]+)$", out, re.M))
    assert set(quality) == set(SMOKE), out
    for value in quality.values():
        assert 0.0 <= float(value) <= 1.0

    for tracker in SMOKE:
        assert outputs.check_results(ws, tracker) == []
        packs = re.findall(rf"^pack {tracker}: (.+\.zip)$", out, re.M)
        assert len(packs) == 1, out
        names = zipfile.ZipFile(packs[0]).namelist()
        assert "manifest.yml" in names
        # 2 sequences x 3 objects, one result file each (plus timing/property files)
        assert len({n for n in names if re.match(r"baseline/synthetic-0[12]/synthetic-0[12]_00[123]_001\.", n)}) == 6
    assert re.search(r"^report: .+report\.html$", out, re.M), out
    assert "smoke: OK" in out
