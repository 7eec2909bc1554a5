"""Strict checkpoint loading and the official <-> our key mapping."""

from __future__ import annotations

import pytest
import torch

from vots_tracker.dmaot import CheckpointError, build_model, load_checkpoint, write_random_checkpoint
from vots_tracker.dmaot.backbones import official_to_ours, ours_to_official
from vots_tracker.dmaot.checkpoint import official_state_dict, our_key_to_official

pytest.importorskip("aot")


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """A deaott file written by the reference code itself, as aot-benchmark saves checkpoints."""
    from .reference import build_reference_model

    _, model = build_reference_model("deaott", seed=3)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_weights(model, state):
    ours = official_state_dict(model)
    return all(torch.equal(ours[k], v) for k, v in state.items())


@pytest.mark.parametrize("layout", ["wrapped", "plain", "module_prefix"])
def test_loads_official_layouts(official, tmp_path, layout):
    state = {("module." + k if layout == "module_prefix" else k): v for k, v in official.items()}
    torch.save({"state_dict": state, "optimizer": {}} if layout != "plain" else state, tmp_path / "c.pth")
    model = load_checkpoint(build_model("deaott"), tmp_path / "c.pth", "cpu")
    assert _same_weights(model, official)


def test_missing_keys_are_listed(official, tmp_path):
    state = dict(official)
    del state["decoder.conv_out.weight"], state["encoder.features.3.conv.1.0.weight"]
    torch.save({"state_dict": state}, tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match="missing keys") as err:
        load_checkpoint(build_model("deaott"), tmp_path / "c.pth", "cpu")
    assert "decoder.conv_out.weight" in str(err.value)
    assert "encoder.features.3.conv.1.0.weight" in str(err.value)


@pytest.mark.parametrize("extra", ["decoder.surprise", "encoder.features.99.weight"])
def test_unknown_keys_are_errors(official, tmp_path, extra):
    torch.save({"state_dict": {**official, extra: torch.zeros(1)}}, tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match="unexpected keys") as err:
        load_checkpoint(build_model("deaott"), tmp_path / "c.pth", "cpu")
    assert extra in str(err.value)


def test_wrong_model_is_an_error(official, tmp_path):
    """A DeAOT-T file given to DeAOT-S: the second LSTT layer's weights are missing, by name."""
    torch.save({"state_dict": official}, tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match=r"c\.pth.*missing keys.*LSTT\.layers\.1\."):
        load_checkpoint(build_model("deaots"), tmp_path / "c.pth", "cpu")


def test_unused_official_keys_are_dropped(tmp_path):
    from .reference import build_reference_model

    _, reference = build_reference_model("aott", seed=1)
    state = reference.state_dict()
    assert "LSTT.mask_token" in state
    torch.save({"state_dict": state}, tmp_path / "c.pth")
    model = load_checkpoint(build_model("aott"), tmp_path / "c.pth", "cpu")
    mapped = {our_key_to_official(model.spec, key) for key in model.state_dict()}
    assert "LSTT.mask_token" not in mapped  # no parameter of ours receives it
    used = {k: v for k, v in state.items() if k != "LSTT.mask_token"}
    assert set(used) == mapped and _same_weights(model, used)  # everything else is loaded


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_unreadable_file_is_named(tmp_path, content):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken.pth"):
        load_checkpoint(build_model("deaott"), path, "cpu")
    with pytest.raises(CheckpointError, match="missing.pth"):
        load_checkpoint(build_model("deaott"), tmp_path / "missing.pth", "cpu")


@pytest.mark.parametrize("name", ["deaott", "r50_deaotl", "swinb_dm_deaotl", "aotl"])
def test_key_mapping_round_trip(name):
    from .reference import build_reference_model

    model = build_model(name)
    _, reference = build_reference_model(name, seed=0)
    theirs = reference.state_dict()
    ours = model.state_dict()
    mapped = {}
    for key, value in ours.items():
        official = our_key_to_official(model.spec, key)
        assert official not in mapped, f"{key} and {mapped.get(official)} both map to {official}"
        mapped[official] = key
        assert theirs[official].shape == value.shape, (key, official)
        if key.startswith("encoder."):
            assert official_to_ours(model.spec.backbone, ours_to_official(model.spec.backbone, key[8:])) == key[8:]
    # every official key has exactly one of ours, but the unused mask token and Swin's index buffers (recomputed)
    assert set(mapped) <= set(theirs)
    unmapped = set(theirs) - set(mapped)
    assert all(k == "LSTT.mask_token" or k.endswith(".attn.relative_position_index") for k in unmapped), unmapped
    assert set(official_state_dict(model)) == set(theirs)


@pytest.mark.parametrize("name", ["deaott", "swinb_dm_deaotl", "aott"])
def test_random_checkpoint_in_official_layout(tmp_path, name):
    from .reference import build_reference_model

    path = write_random_checkpoint(name, tmp_path / "random.pth", seed=5)
    assert path == tmp_path / "random.pth" and not list(tmp_path.glob("*.tmp*"))
    saved = torch.load(path, weights_only=True)
    _, reference = build_reference_model(name, seed=0)
    assert set(saved) == {"state_dict"}
    assert set(saved["state_dict"]) == set(reference.state_dict())
    reference.load_state_dict(saved["state_dict"], strict=True)  # the reference code reads it
    model = load_checkpoint(build_model(name), path, "cpu")
    again = write_random_checkpoint(name, tmp_path / "again.pth", seed=5)
    assert _same_weights(model, torch.load(again, weights_only=True)["state_dict"])
