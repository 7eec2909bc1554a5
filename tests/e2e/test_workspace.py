"""`vots-tracker workspace init`: trackers.ini generation, synthetic sequences, offline loading."""

import configparser
import sys
from pathlib import Path

import pytest
import yaml

import vots_tracker.workspace.trackers_ini as trackers_ini
import vots_tracker.workspace.folder as wsmod
from vots_tracker.workspace.data_files import PACKAGE_ROOT
from vots_tracker.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command, expected",
    [
        ("vots_tracker serve --preset hqsam_gate", ["serve", "--preset", "hqsam_gate"]),
        ("python -m vots_tracker serve --preset dmaot --sam none", ["serve", "--preset", "dmaot", "--sam", "none"]),
        ("from vots_tracker.cli import main; sys.exit(main(['serve', '--preset', 'x']))", ["serve", "--preset", "x"]),
        (trackers_ini.serve_command(["serve", "--tau", "0.7", "--weights-dir", "/a b/c"]),
         ["serve", "--tau", "0.7", "--weights-dir", "/a b/c"]),
        ("some_other_tracker", None),
    ],
)
def test_parse_command(command, expected):
    assert trackers_ini.parse_command(command) == expected


def test_root_trackers_ini_entries():
    """The repository-root trackers.ini parses and every entry runs `vots_tracker serve --preset ...`."""
    entries = {e.name: e for e in trackers_ini.read_root_trackers(ROOT / "trackers.ini")}
    for name in ("hqsam_gate", "dmaot", "hqsam_gate_cycle", "hqsam_gate_light"):
        assert name in entries, f"trackers.ini lacks [{name}]"
    from vots_tracker.config import available_presets

    for entry in entries.values():
        assert entry.args[0] == "serve"
        preset = entry.args[entry.args.index("--preset") + 1]
        assert preset in available_presets(), f"[{entry.name}] uses unknown preset {preset}"


def test_rendered_entry_is_valid_for_the_toolkit(tmp_path):
    """The generated section is accepted by the toolkit and runs `python -m vots_tracker` with our paths."""
    from vot.tracker import Registry

    entry = trackers_ini.TrackerEntry("t1", ["serve", "--preset", "dmaot_smoke"], {"label": "T1", "timeout": "77"})
    text = trackers_ini.render_trackers_ini([entry], weights_dir=tmp_path / "w")
    (tmp_path / "trackers.ini").write_text(text)
    tracker = Registry([str(tmp_path)], root=str(tmp_path))["t1"]
    runtime = tracker.runtime()  # builds the command line; starts nothing
    assert runtime._command.startswith(f"{sys.executable} -c ")
    assert "sys.argv = ['vots_tracker', 'serve', '--preset', 'dmaot_smoke']" in runtime._command
    assert runtime._envvars["PYTHONPATH"] == str(PACKAGE_ROOT)
    assert runtime._envvars["VOTS_TRACKER_WEIGHTS"] == str((tmp_path / "w").resolve())
    assert runtime._timeout == 77


def test_init_synthetic_loads_offline(tmp_path, fake_weights, no_download, no_network):
    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=2, frames=8, size=(160, 120), objects=3)

    config = yaml.safe_load((ws / "config.yaml").read_text())
    assert config["stack"] == wsmod.OFFLINE_STACK
    assert (ws / "sequences" / "list.txt").read_text().split() == ["synthetic-01", "synthetic-02"]
    for name in wsmod.SMOKE_WEIGHTS:
        assert (ws / "weights" / name).is_file()

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ws / "trackers.ini")
    for name in ("hqsam_gate", "dmaot", "hqsam_gate_cycle", "hqsam_gate_light", "dmaot_smoke", "hqsam_gate_smoke"):
        assert name in ini, name
        assert ini[name]["python"] == sys.executable
        assert Path(ini[name]["paths"]).is_absolute()
        assert (Path(ini[name]["paths"]) / "vots_tracker" / "__init__.py").is_file()
    assert ini["hqsam_gate_smoke"]["env_VOTS_TRACKER_WEIGHTS"] == str(ws / "weights")
    assert trackers_ini.parse_command(ini["hqsam_gate_smoke"]["command"]) == ["serve", "--preset", "hqsam_gate_smoke"]
    assert trackers_ini.parse_command(ini["dmaot_smoke"]["command"]) == ["serve", "--preset", "dmaot_smoke"]

    from vot.dataset import Sequence
    from vot.experiment.helpers import MultiObjectHelper
    from vot.region import is_special
    from vot.workspace import Workspace

    workspace = Workspace.load(str(ws))
    assert not no_download and not no_network
    assert sorted(s.name for s in workspace.dataset) == ["synthetic-01", "synthetic-02"]
    assert {"dmaot_smoke", "hqsam_gate_smoke", "hqsam_gate"} <= set(workspace.registry.identifiers())
    experiment = workspace.stack["baseline"]
    assert experiment.multiobject
    analyses = {a.name for a in experiment.analyses}
    assert {"Quality", "Quality plot", "AR", "Auxiliary"} <= analyses

    for sequence in workspace.dataset:
        assert len(sequence) == 8 and sequence.size == (160, 120)
        assert len(sequence.objects()) == 3
        helper = MultiObjectHelper(sequence)
        late = [oid for i in range(1, len(sequence)) for oid in helper.new(i)]
        assert late, "no object appears after the first frame"
        for oid in late:
            trajectory = sequence.object(oid)
            start = next(i for i, r in enumerate(trajectory) if not is_special(r))
            assert start >= 1 and not trajectory[start].is_empty()
            assert all(is_special(r) and r.code == Sequence.UNKNOWN for r in trajectory[:start])
        for oid in helper.new(0):
            assert not sequence.object(oid)[0].is_empty()


def test_init_refuses_existing_without_force(tmp_path, fake_weights):
    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=1, frames=4, size=(96, 96), objects=2)
    with pytest.raises(UserError, match="--force"):
        wsmod.init_workspace(ws, synthetic=1)
    (ws / "cache").mkdir()
    (ws / "results" / "other").mkdir(parents=True)
    (ws / "results" / "t" / "baseline" / "synthetic-01").mkdir(parents=True)
    wsmod.init_workspace(ws, synthetic=1, frames=5, size=(96, 96), objects=2, force=True)
    # results of the regenerated synthetic sequence go (they describe the old frames); nothing else does
    assert not (ws / "cache").exists() and not (ws / "results" / "t" / "baseline" / "synthetic-01").exists()
    assert (ws / "results" / "other").is_dir()


def test_init_main_stack_without_sequences(tmp_path, no_network):
    """The real-run workspace: vots2024/main, no sequences yet (the toolkit downloads them online)."""
    ws = wsmod.init_workspace(tmp_path / "ws", weights_dir=tmp_path / "weights")
    config = yaml.safe_load((ws / "config.yaml").read_text())
    assert config["stack"] == "vots2024/main" and config["registry"] == ["./trackers.ini"]
    assert not wsmod.sequences_present(ws)
    assert wsmod.stack_dataset_url(ws).startswith("https://")
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ws / "trackers.ini")
    assert "hqsam_gate_smoke" not in ini
    assert ini["hqsam_gate"]["env_VOTS_TRACKER_WEIGHTS"] == str((tmp_path / "weights").resolve())


def test_cli_workspace_init(tmp_path, fake_weights, capsys):
    from vots_tracker.cli import main

    rc = main(["workspace", "init", str(tmp_path / "ws"), "--synthetic", "1", "--frames", "4",
               "--size", "96x80", "--objects", "2"])
    assert rc == 0
    assert f"workspace: {tmp_path / 'ws'}" in capsys.readouterr().out
    rc = main(["workspace", "init", str(tmp_path / "ws"), "--synthetic", "1"])
    assert rc == 2  # UserError: exists, no --force
    rc = main(["workspace", "init", str(tmp_path / "ws2"), "--synthetic", "1", "--size", "big"])
    assert rc == 2


@pytest.mark.parametrize("kwargs", [dict(synthetic=-1), dict(synthetic=1, frames=1), dict(synthetic=1, size=(10, 10)),
                                    dict(synthetic=1, objects=0)])
def test_bad_synthetic_settings_are_rejected_before_writing(tmp_path, kwargs):
    with pytest.raises(UserError, match="--(synthetic|frames|size|objects) must"):
        wsmod.init_workspace(tmp_path / "ws", **kwargs)
    assert not (tmp_path / "ws").exists()


def test_smoke_with_no_sequences_is_rejected_before_writing(tmp_path):
    from vots_tracker.evaluation.smoke import run_smoke

    with pytest.raises(UserError, match="--sequences must be >= 1"):
        run_smoke(tmp_path / "smoke", sequences=0)
    assert not (tmp_path / "smoke").exists()
