"""`vots-tracker sweep` inputs: tau SPEC, proposal lists, derived trackers.ini entries, refusals (no models)."""

import re

import pytest

from vots_tracker.cli import main
from vots_tracker.evaluation.sweep.settings import (
    GateSetting, SweepError, parse_tau_spec, read_base_entry, register_derived, settings_from,
)


def test_tau_list_and_range_with_both_ends():
    assert parse_tau_spec("0.5,0.59,0.65") == ["0.5", "0.59", "0.65"]
    assert parse_tau_spec("0.50:0.70:0.02") == [
        "0.5", "0.52", "0.54", "0.56", "0.58", "0.6", "0.62", "0.64", "0.66", "0.68", "0.7"]
    assert parse_tau_spec("0:1:0.5") == ["0", "0.5", "1"]
    assert parse_tau_spec("0.6:0.6:0.1") == ["0.6"]
    assert parse_tau_spec("0.5, 0.50,1.0") == ["0.5", "1"]  # one setting per value


@pytest.mark.parametrize("spec, problem", [
    ("0.7:0.5:0.1", "runs backwards"),
    ("0.5:0.7:0", "step must be positive"),
    ("0.5:0.7:-0.1", "step must be positive"),
    ("0.5,1.2", "outside [0, 1]"),
    ("-0.1:0.5:0.1", "outside [0, 1]"),
    ("0.5:0.7:0.03", "does not reach"),
    ("0.5,abc", "not a number"),
    ("0.5:0.7", "START:STOP:STEP"),
    ("", "empty"),
])
def test_bad_tau_spec_is_one_clear_line(spec, problem, capsys):
    with pytest.raises(SweepError, match=re.escape(problem)):
        parse_tau_spec(spec)
    assert main(["sweep", "--tracker", "any", f"--tau={spec}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and problem in err and err.startswith("vots-tracker: error: --tau")


def test_settings_names_are_toolkit_identifiers_and_commands_carry_the_setting():
    from vot.tracker import is_valid_identifier

    settings = settings_from("0:1:0.25", "all,hq,single,2")
    assert len(settings) == 20 and settings[0] == GateSetting("0", "all") and settings[-1] == GateSetting("1", "2")
    names = [s.tracker_name("hqsam_gate") for s in settings]
    assert len(set(names)) == 20 and all(is_valid_identifier(n) for n in names)
    assert GateSetting("0.59").tracker_name("hqsam_gate") == "hqsam_gate_tau0p59"
    assert GateSetting("0.59", "hq").serve_args(["serve", "--preset", "p"]) == \
        ["serve", "--preset", "p", "--tau", "0.59", "--proposals", "hq"]
    with pytest.raises(SweepError, match="each item must be one of"):
        settings_from("0.5", "all,five")


INI = """; header comment
[base]
label = Base
protocol = traxpython
command = import runpy, sys; sys.argv = ['vots_tracker', 'serve', '--preset', 'hqsam_gate_smoke']; runpy.run_module('vots_tracker', run_name='__main__', alter_sys=True)
timeout = 300
env_VOTS_TRACKER_WEIGHTS = /w

[other]
label = Other
protocol = traxpython
command = vots_tracker serve --preset dmaot_smoke
"""


def test_derived_entries_are_registered_once_and_load_in_the_toolkit(tmp_path):
    from vot.tracker import Registry

    ini = tmp_path / "trackers.ini"
    ini.write_text(INI, encoding="utf-8")
    base = read_base_entry(tmp_path, "base")
    for _ in range(2):  # a rerun replaces its sections, it does not add more
        names = register_derived(ini, base, settings_from("0.5,1", "hq"))
    text = ini.read_text(encoding="utf-8")
    assert text.startswith(INI.rstrip("\n")) and text.count("[base_tau0p5_phq]") == 1
    registry = Registry([str(tmp_path)], root=str(tmp_path))
    assert set(registry.identifiers()) == {"base", "other", *names}
    derived = registry["base_tau0p5_phq"]
    assert "'--tau', '0.5', '--proposals', 'hq'" in derived._command and "sweep: tau 0.5" in derived.label
    assert read_base_entry(tmp_path, "base_tau1_phq").keys["env_VOTS_TRACKER_WEIGHTS"] == "/w"
    with pytest.raises(SweepError, match="not in"):
        read_base_entry(tmp_path, "missing")


def test_gate_dependent_options_are_refused(capsys):
    assert main(["sweep", "--tracker", "any", "--tau", "0.5", "--redetect"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--redetect cannot be swept" in err
    assert main(["sweep", "--tracker", "any", "--tau", "0.5", "--cpus-per-task", "2"]) == 2
    assert "apply to Ray runs" in capsys.readouterr().err


def test_workspace_entries_with_cycle_or_redetect_or_no_refinement_are_refused(tmp_path, monkeypatch, capsys):
    import vots_tracker.workspace.folder as wsmod

    monkeypatch.setattr(wsmod, "init_random_weights", lambda folder, names=(): [])
    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=1, frames=3, size=(64, 64), objects=1)
    before = (ws / "trackers.ini").read_text(encoding="utf-8")
    capsys.readouterr()  # the workspace's own log lines
    for tracker, problem in [("hqsam_gate_smoke_cycle_redetect", "cycle prior (--cycle)"),
                             ("dmaot_smoke", "does not refine")]:
        assert main(["sweep", "--workspace", str(ws), "--tracker", tracker, "--tau", "0.5"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and problem in err, err
    assert (ws / "trackers.ini").read_text(encoding="utf-8") == before  # nothing registered


def test_table_lists_every_setting_and_the_plot_is_a_png(tmp_path):
    from vots_tracker.evaluation.sweep.report import SettingResult, plot, table

    settings = settings_from("0.5,0.6", "all,hq")
    results = [SettingResult(s, s.tracker_name("b"), s.proposals, q, 10, a)
               for s, q, a in zip(settings, [0.5, 0.7, 0.4, 0.6], [9, 4, 0, 1])]
    rows = table(results).splitlines()
    assert [r.split()[0] for r in rows[1:]] == [r.tracker for r in results]
    assert rows[2].split()[1:] == ["0.6", "all", "0.7000", "0.4000", "4/10"]
    path = plot(results, tmp_path / "q.png", "b")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failing_sequence_does_not_stop_the_others(caplog):
    from vots_tracker.evaluation.sweep.runner import run_tasks

    class Sweeper:
        def run(self, task, force=False):
            if task[1] == "bad":
                raise RuntimeError("tracker crashed")
            return {"t": [1, 1]}

    tasks = [("baseline", "a"), ("baseline", "bad"), ("baseline", "c")]
    assert run_tasks(Sweeper(), tasks) == {("baseline", "a"): {"t": [1, 1]}, ("baseline", "c"): {"t": [1, 1]}}
    assert "baseline/bad: the sweep failed" in caplog.text


def test_packed_masks_round_trip():
    import numpy as np

    from vots_tracker.evaluation.sweep.shared_pass import PackedMask

    rng = np.random.default_rng(0)
    for mask in [np.zeros((7, 9), bool), rng.random((31, 45)) > 0.5, np.pad(np.ones((3, 5), bool), ((10, 2), (4, 30)))]:
        packed = PackedMask.pack(mask)
        assert np.array_equal(packed.unpack(), mask) and len(packed.bits) <= (mask.size + 7) // 8


def test_gate_off_is_refused():
    from vots_tracker.config import make_config
    from vots_tracker.evaluation.sweep.cli import refuse_gate_dependent

    with pytest.raises(SweepError, match="--gate off, which ignores tau"):
        refuse_gate_dependent("t", make_config("hqsam_gate_smoke", gate="off"))
    refuse_gate_dependent("t", make_config("hqsam_gate_smoke", gate="smoothed"))  # tau matters: accepted
