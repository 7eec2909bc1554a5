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
    "sam21_l_gate": ("sam2.1_hiera_l", "exact", False),
    "sam21_t_rt": ("sam2.1_hiera_t", "exact", False),
}
# rows that are not on SwinB DM-DeAOT-L
MODELS = {"sam21_t_rt": "r50_dm_deaotl"}


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
    assert config.model == MODELS.get(name, "swinb_dm_deaotl") and (config.long_max, config.long_gap, config.max_edge) == (10, 30, 1040)
    assert config.sam == refiner and config.refine == (refiner != "none")
    if gate is not None:
        assert (config.gate, config.tau, config.cycle) == (gate, 0.59, cycle)
    if gate == "off":
        assert config.proposals == "1"  # the no-gate runner's first multimask mask
    assert all(name in REGISTRY for name in required_checkpoints(config))


def test_ablation_entries_in_trackers_ini_are_in_the_table():
    ablation = {entry.name for entry in read_root_trackers() if entry.extra.get("label", "").startswith("Ablation")}
    assert ablation and ablation <= set(readme_rows())


SAM21_HEADING = "### SAM 2.1 refiners"
# the figures (Meta publishes sizes, no hashes)
SAM21_BYTES = {"sam2.1_hiera_tiny.pt": 156008466, "sam2.1_hiera_small.pt": 184416285,
               "sam2.1_hiera_base_plus.pt": 323606802, "sam2.1_hiera_large.pt": 898083611}


def test_sam21_rows_and_readme_file_table_agree_with_the_model_table():
    from vots_tracker.refine import sam_specs

    assert readme_rows()["sam21_l_gate"] == ("-", "-") and readme_rows()["sam21_t_rt"] == ("-", "-")
    section = README.read_text(encoding="utf-8").split(SAM21_HEADING, 1)[1].split("\n### ", 1)[0]
    listed = {m.group(1): (m.group(2), int(m.group(3)), m.group(4)) for m in re.finditer(
        r"^\| `(sam2\.1_hiera_[a-z+]+)` \| `([^`]+)` \| (\d+) \| Meta, Hugging Face `([^`]+)` \|$", section, re.M)}
    table = {size: entry for size, entry in sam_specs.DEFAULT_CHECKPOINTS.items() if sam_specs.is_sam2(size)}
    assert list(listed) == list(table) == ["sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l"]
    for size, entry in table.items():
        filename, size_bytes, hf_repo = listed[size]
        assert (filename, size_bytes) == (entry.filename, entry.size) and SAM21_BYTES[filename] == entry.size
        assert entry.urls == ("https://dl.fbaipublicfiles.com/segment_anything_2/092824/" + filename,
                              f"https://huggingface.co/{hf_repo}/resolve/main/{filename}")
        assert entry.sha256 is None and entry.pin_sha256 and REGISTRY[filename] is entry
