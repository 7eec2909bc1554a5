"""Every trackers.ini entry builds its models and loads checkpoint files in the official formats.

The checkpoints are random-init files written under the official names (`weights init-random`),
loaded through `Tracker.from_config`, the path `serve` takes for real weights. Entries that
name the same checkpoint files share one load (vit_h alone is 2.5 GB).
"""

from __future__ import annotations

from vots_tracker.cli import build_parser
from vots_tracker.components import required_checkpoints
from vots_tracker.config import config_from_args
from vots_tracker.server.session import Tracker
from vots_tracker.weights.random_init import init_random
from vots_tracker.workspace.trackers_ini import read_root_trackers


def _configs():
    parser = build_parser()
    configs = {}
    for entry in read_root_trackers():
        assert entry.args[0] == "serve", entry
        configs[entry.name] = config_from_args(parser.parse_args(entry.args))
    return configs


def _files(config):
    return tuple(required_checkpoints(config))


def test_required_entries_present():
    configs = _configs()
    assert {"hqsam_gate", "dmaot", "hqsam_gate_cycle", "hqsam_gate_light"} <= set(configs)
    gate = configs["hqsam_gate"]
    assert (gate.model, gate.sam, gate.tau) == ("swinb_dm_deaotl", "vit_h", 0.59)
    assert configs["dmaot"].model == gate.model and not configs["dmaot"].refine
    assert configs["hqsam_gate_cycle"].cycle and configs["hqsam_gate_light"].sam == "vit_tiny"


def test_every_entry_loads_official_format_checkpoints(tmp_path):
    configs = _configs()
    by_files = {}
    for name, config in configs.items():
        by_files.setdefault(_files(config), []).append(name)
    needed = sorted({f for files in by_files for f in files if f})
    try:
        init_random(tmp_path, needed)
        _load_each(configs, by_files, tmp_path)
    finally:  # vit_h alone is 2.5 GB: do not leave it in the temp folder
        for path in [*tmp_path.glob("*.pth"), *tmp_path.glob("*.pt")]:
            path.unlink()


def _load_each(configs, by_files, tmp_path):
    for files, names in by_files.items():
        config = configs[names[0]]
        config.weights_dir = str(tmp_path)
        config.device = "cpu"
        tracker = Tracker.from_config(config)
        assert tracker.dmaot_model.spec.name == config.model, names
        assert (tracker.refiner is not None) == (len(files) == 2), names
        if tracker.refiner is not None:
            assert tracker.refiner.size == config.sam
        del tracker
