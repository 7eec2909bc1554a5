"""Configuration: presets, flag overrides, validation, README in sync."""

import argparse
from pathlib import Path

import pytest

from vots_tracker.config import (
    ConfigError,
    TrackerConfig,
    add_tracker_arguments,
    available_presets,
    config_from_args,
    load_preset,
    make_config,
    option_table,
)

ROOT = Path(__file__).resolve().parents[1]


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_tracker_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_required_presets_exist_and_load():
    for name in ("hqsam_gate", "dmaot", "hqsam_gate_cycle", "hqsam_gate_light", "dmaot_smoke", "hqsam_gate_smoke"):
        assert name in available_presets()
        make_config(name)


def test_hqsam_gate_is_the_vots2024_configuration():
    config = make_config("hqsam_gate")
    assert (config.model, config.sam, config.tau) == ("swinb_dm_deaotl", "vit_h", 0.59)
    assert (config.long_max, config.long_gap, config.short_gap, config.max_edge) == (10, 30, 2, 1040)
    assert not config.cycle
    assert make_config("dmaot").sam == "none"
    assert make_config("hqsam_gate_cycle").cycle
    assert make_config("hqsam_gate_light").sam == "vit_tiny"


def test_flags_override_preset_in_any_position():
    config = parse("--tau", "0.7", "--preset", "hqsam_gate", "--sam", "vit_b", "--cycle", "--proposals", "1")
    assert config.tau == 0.7 and config.sam == "vit_b" and config.cycle and config.proposals == "1"
    assert config.model == "swinb_dm_deaotl"  # untouched preset value survives
    assert parse("--preset", "hqsam_gate_cycle", "--no-cycle").cycle is False


def test_unset_flags_keep_defaults():
    assert parse() == TrackerConfig()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tau", "1.5"], "tau"),
        (["--long-max", "0"], "long_max"),
        (["--max-edge", "-1"], "max_edge"),
        (["--log-level", "LOUD"], "log_level"),
    ],
)
def test_invalid_values_are_named(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse(*argv)


def test_bad_choice_is_rejected_by_the_parser():
    with pytest.raises(SystemExit):
        parse("--sam", "vit_huge")


def test_unknown_preset_and_unknown_keys(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        make_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tau: 0.5\ntua: 0.5\n")
    with pytest.raises(ConfigError, match="tua"):
        load_preset(bad)
    good = tmp_path / "mine.yaml"
    good.write_text("tau: 0.8\nsam: vit_l\n")
    assert make_config(str(good)).sam == "vit_l"


def test_readme_option_table_is_the_generated_one():
    """Every flag, its default and its help text, exactly as the code has them."""
    assert option_table() in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--sam", "none", "--cycle"], "--cycle needs HQ-SAM refinement, but --sam is none"),
    (["--preset", "dmaot", "--redetect"], "--redetect needs HQ-SAM"),
    (["--sam", "none", "--cycle", "--redetect"], "--cycle and --redetect need HQ-SAM"),
    (["--decode-batch", "-1"], "decode_batch"),
    (["--model", "mobilenetv2_deaott"], "unknown DMAOT model 'mobilenetv2_deaott'"),
    (["--model", "swinb_deaott"], "unknown DMAOT model"),
])
def test_combinations_that_do_nothing_and_bad_values_are_rejected(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse(*argv)


def test_tau_one_without_redetection_is_refinement_off():
    assert parse("--tau", "0.999").refine
    assert not parse("--tau", "1.0").refine
    assert not parse("--preset", "hqsam_gate", "--tau", "1").refine
    assert parse("--tau", "1.0", "--redetect").refine  # re-detection still uses HQ-SAM
    assert not parse("--sam", "none").refine


def test_overriding_the_model_selects_its_official_checkpoint():
    from vots_tracker.components import required_checkpoints

    light = ["SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth", "sam_hq_vit_tiny.pth"]
    assert required_checkpoints(parse("--preset", "hqsam_gate_light")) == light
    assert required_checkpoints(parse("--preset", "hqsam_gate_light", "--model", "deaott")) == [
        "DeAOTT_PRE_YTB_DAV.pth", "sam_hq_vit_tiny.pth"]
    assert required_checkpoints(parse("--preset", "hqsam_gate_light", "--sam", "vit_b")) == [
        light[0], "sam_hq_vit_b.pth"]
    assert required_checkpoints(parse("--preset", "hqsam_gate_light", "--sam", "none")) == light[:1]


def test_a_pinned_checkpoint_belongs_to_the_presets_model(tmp_path):
    """A preset's checkpoint is dropped by a flag that changes its model, kept otherwise."""
    from vots_tracker.components import required_checkpoints

    pinned = tmp_path / "pinned.yaml"
    pinned.write_text("model: deaott\ndmaot_checkpoint: /w/mine.pth\nsam: vit_tiny\nsam_checkpoint: /w/sam.pth\n")
    assert required_checkpoints(parse("--preset", str(pinned))) == ["/w/mine.pth", "/w/sam.pth"]
    assert required_checkpoints(parse("--preset", str(pinned), "--model", "deaott", "--sam", "vit_tiny")) == [
        "/w/mine.pth", "/w/sam.pth"]  # the same model: same file
    assert required_checkpoints(parse("--preset", str(pinned), "--model", "deaots", "--sam", "vit_b")) == [
        "DeAOTS_PRE_YTB_DAV.pth", "sam_hq_vit_b.pth"]
    explicit = parse("--preset", str(pinned), "--model", "deaots", "--dmaot-checkpoint", "/w/s.pth", "--sam", "vit_b",
                     "--sam-checkpoint", "/w/b.pth")
    assert required_checkpoints(explicit) == ["/w/s.pth", "/w/b.pth"]


def test_bundled_presets_do_not_repeat_official_file_names():
    """Official files are the model tables' facts; a bundled preset names its model only."""
    for name in available_presets():
        values = load_preset(name)
        assert "dmaot_checkpoint" not in values and "sam_checkpoint" not in values, name


def test_trackers_ini_entries_use_existing_presets():
    import configparser

    ini = configparser.ConfigParser()
    ini.read(ROOT / "trackers.ini")
    for entry in ("hqsam_gate", "dmaot", "hqsam_gate_cycle", "hqsam_gate_light"):
        assert entry in ini.sections()
    for section in ini.sections():
        command = ini[section]["command"]
        preset = command.split("'--preset', '")[1].split("'")[0]
        assert preset in available_presets(), section
        assert ini[section]["protocol"] == "traxpython"
        assert int(ini[section]["timeout"]) >= 60
