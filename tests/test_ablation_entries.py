"""The published ablation table in README.md and the trackers.ini entries agree, and each resolves.

Every row's entry is in trackers.ini, its command parses to a valid configuration that runs
what the row says (model, refiner, gate, cycle), and its checkpoints are registry files.
Nothing is run or loaded.
"""

import re
from pathlib import Path

import pytest

from vots_tracker.cli import build_parser
from vots_tracker.components import required_checkpoints
from vots_tracker.config import config_from_args
from vots_tracker.workspace.trackers_ini import read_root_trackers
from vots_tracker.weights.registry import REGISTRY

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "#### The published ablation table"
# entry -> (refiner, gate, cycle): what each row of the published table runs
ROWS = {
    "dmaot": ("none", None, False),
    "sam_b": ("sam_vit_b", "off", False),
    "sam_l": ("sam_vit_l", "off", False),
    "sam_l_gate": ("sam_vit_l", "exact", False),
    "hqsam_l_gate": ("vit_l", "exact", False),
    "hqsam_l_gate_cycle": ("vit_l", "exact", True),
    "hqsam_gate": ("vit_h", "exact", False),
}


def readme_rows():
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"README.md lacks the section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `([a-z0-9_]+)` \| (.+) \| ([0-9.]+|-) / ([0-9.]+|-) \|$", line)
        if match:
            rows[match.group(1)] = (match.group(3), match.group(4))
    return rows


def test_readme_table_lists_every_row_once_with_published_q():
    rows = readme_rows()
    assert list(rows) == list(ROWS)
    assert rows["dmaot"] == ("0.6817", "0.6400") and rows["hqsam_gate"] == ("0.7335", "0.6530")


@pytest.mark.parametrize("name", list(ROWS))
def test_each_row_is_a_trackers_ini_entry_that_resolves(name):
    entries = {entry.name: entry for entry in read_root_trackers()}
    assert name in entries, f"README ablation row {name} has no trackers.ini entry"
    config = config_from_args(build_parser().parse_args(entries[name].args))
    refiner, gate, cycle = ROWS[name]
    assert config.model == "swinb_dm_deaotl" and (config.long_max, config.long_gap, config.max_edge) == (10, 30, 1040)
    assert config.sam == refiner and config.refine == (refiner != "none")
    if gate is not None:
        assert (config.gate, config.tau, config.cycle) == (gate, 0.59, cycle)
    if gate == "off":
        assert config.proposals == "1"  # the no-gate runner's first multimask mask
    assert all(name in REGISTRY for name in required_checkpoints(config))


def test_ablation_entries_in_trackers_ini_are_in_the_table():
    ablation = {entry.name for entry in read_root_trackers() if entry.extra.get("label", "").startswith("Ablation")}
    assert ablation and ablation <= set(readme_rows())
