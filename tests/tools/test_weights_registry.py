"""Checkpoint registry: entries, name mapping, resolution, verification cache, RANDOM manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import pytest

from tools_helpers import assert_one_line_error
from vots_tracker.config import ConfigError, available_presets, make_config
from vots_tracker.errors import UserError
from vots_tracker.weights import registry
from vots_tracker.weights.registry import (
    ENTRIES,
    REGISTRY,
    CheckpointEntry,
    CheckpointVerificationError,
    MissingCheckpointError,
    UnknownCheckpointError,
    default_dmaot_checkpoint,
    default_sam_checkpoint,
    default_weights_dir,
    resolve_checkpoint,
)


def test_entries_are_well_formed_and_unique():
    names = [e.filename for e in ENTRIES]
    assert len(names) == len(set(names))
    assert set(REGISTRY) == set(names)
    for e in ENTRIES:
        assert e.kind in ("dmaot", "hqsam", "sam", "sam2"), e
        assert e.filename.endswith(".pt" if e.kind == "sam2" else ".pth") and "/" not in e.filename
        assert e.urls and all(u.startswith("https://") for u in e.urls), e
        assert re.fullmatch(r"sam2\.1_hiera_[tslb+]+" if e.kind == "sam2" else r"[a-z0-9_]+", e.model), e
        if e.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", e.sha256), e
        if e.size is not None:
            assert e.size > 1_000_000
        if e.kind == "hqsam":
            assert e.filename == f"sam_hq_{e.model}.pth"
            assert e.urls[0] == f"https://huggingface.co/lkeab/hq-sam/resolve/main/{e.filename}"
            assert e.size and e.sha256  # published in the Hugging Face LFS pointers
        elif e.kind == "sam":  # Meta's names carry the md5's first six hex digits
            assert re.fullmatch(rf"{e.model}_[0-9a-f]{{6}}\.pth", e.filename), e
            assert e.urls[0] == f"https://dl.fbaipublicfiles.com/segment_anything/{e.filename}"
            assert e.size and e.sha256
        elif e.kind == "sam2":  # Meta publishes sizes, no hashes: the first download's sha256 is pinned
            assert e.urls[0] == f"https://dl.fbaipublicfiles.com/segment_anything_2/092824/{e.filename}"
            assert e.urls[1].startswith("https://huggingface.co/facebook/sam2.1-hiera-") and e.urls[1].endswith(e.filename)
            assert e.size and e.sha256 is None and e.pin_sha256
        else:
            assert e.gdrive_id and any(e.gdrive_id in u for u in e.urls)
    required = {
        "sam_hq_vit_tiny.pth", "sam_hq_vit_b.pth", "sam_hq_vit_l.pth", "sam_hq_vit_h.pth",
        "sam_vit_b_01ec64.pth", "sam_vit_l_0b3195.pth", "sam_vit_h_4b8939.pth",
        "DeAOTT_PRE_YTB_DAV.pth", "DeAOTS_PRE_YTB_DAV.pth", "DeAOTB_PRE_YTB_DAV.pth", "DeAOTL_PRE_YTB_DAV.pth",
        "R50_DeAOTL_PRE_YTB_DAV.pth", "SwinB_DeAOTL_PRE_YTB_DAV.pth",
        "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth",
    }
    assert required <= set(names)
    assert REGISTRY["SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth"].gdrive_id == "1KTJdR354BtFEGTrA_a4fcKUUHe2woxtn"
    assert REGISTRY["DeAOTT_PRE_YTB_DAV.pth"].gdrive_id == "1ThWIZQS03cYWx1EKNN8MIMnJS5eRowzr"


@pytest.mark.parametrize("model,expected", [
    ("deaott", "DeAOTT_PRE_YTB_DAV.pth"),
    ("dm_deaott", "DeAOTT_PRE_YTB_DAV.pth"),
    ("deaotl", "DeAOTL_PRE_YTB_DAV.pth"),
    ("r50_deaotl", "R50_DeAOTL_PRE_YTB_DAV.pth"),
    ("r50_dm_deaotl", "R50_DeAOTL_PRE_YTB_DAV.pth"),
    ("swinb_deaotl", "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth"),
    ("swinb_dm_deaotl", "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth"),
    ("aott", "AOTT_PRE_YTB_DAV.pth"),
    ("swinb_aotl", "SwinB_AOTL_PRE_YTB_DAV.pth"),
])
def test_default_dmaot_checkpoint(model, expected):
    assert default_dmaot_checkpoint(model) == expected


@pytest.mark.parametrize("model", ["foo", "swinb_deaott", "r50_aott", "", "deaot", "mobilenetv2_deaott"])
def test_default_dmaot_checkpoint_unknown(model):
    with pytest.raises(UnknownCheckpointError) as info:
        default_dmaot_checkpoint(model)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, UserError)
    assert repr(model) in str(info.value)


def test_default_sam_checkpoint():
    for size in ("vit_tiny", "vit_b", "vit_l", "vit_h"):
        assert default_sam_checkpoint(size) in REGISTRY
    with pytest.raises(UnknownCheckpointError):
        default_sam_checkpoint("vit_xl")


def test_every_preset_names_registry_files():
    from vots_tracker.components import required_checkpoints

    for preset in available_presets():
        config = make_config(preset)
        files = required_checkpoints(config)
        assert len(files) == 1 + config.refine and all(name in REGISTRY for name in files), preset


def test_every_model_spec_carries_a_registry_file():
    """The registry is derived from the model tables: every model and size has its file there."""
    from vots_tracker.dmaot.specs import MODEL_SPECS
    from vots_tracker.refine.sam_specs import DEFAULT_CHECKPOINTS

    for spec in MODEL_SPECS.values():
        assert REGISTRY[spec.checkpoint.filename] is spec.checkpoint, spec.name
        assert spec.checkpoint.model == spec.plain_name or spec.checkpoint is registry.REGISTRY[registry.VOTS_DMAOT_FILE]
    for size, entry in DEFAULT_CHECKPOINTS.items():
        assert REGISTRY[entry.filename] is entry and entry.model == size
    assert {e.kind for e in ENTRIES} == {"dmaot", "hqsam", "sam", "sam2"}
    assert all(e.writer for e in ENTRIES)


def test_default_weights_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("VOTS_TRACKER_WEIGHTS", str(tmp_path / "w"))
    assert default_weights_dir() == tmp_path / "w"
    monkeypatch.delenv("VOTS_TRACKER_WEIGHTS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_weights_dir() == tmp_path / "cache" / "vots-tracker" / "weights"


@pytest.fixture
def fake_entry(monkeypatch):
    data = b"PK\x03\x04" + bytes(range(256)) * 40
    entry = CheckpointEntry("fake_model.pth", "dmaot", "deaott", ("https://example.invalid/fake_model.pth",),
                            len(data), hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(REGISTRY, entry.filename, entry)
    return entry, data


def test_resolve_existing_path_and_missing(tmp_path):
    own = tmp_path / "my.pth"
    own.write_bytes(b"x")
    assert resolve_checkpoint(str(own), tmp_path / "weights") == own.resolve()
    with pytest.raises(MissingCheckpointError) as info:
        resolve_checkpoint("sam_hq_vit_h.pth", tmp_path / "weights")
    msg = str(info.value)
    assert "\n" not in msg
    assert "sam_hq_vit_h.pth" in msg
    assert "https://huggingface.co/lkeab/hq-sam/resolve/main/sam_hq_vit_h.pth" in msg
    assert str(tmp_path / "weights" / "sam_hq_vit_h.pth") in msg
    with pytest.raises(MissingCheckpointError) as info:
        resolve_checkpoint("DeAOTT_PRE_YTB_DAV.pth", tmp_path)
    assert "drive.google.com" in str(info.value) and "1ThWIZQS03cYWx1EKNN8MIMnJS5eRowzr" in str(info.value)
    with pytest.raises(MissingCheckpointError):
        resolve_checkpoint(str(tmp_path / "nope" / "x.pth"), tmp_path)
    with pytest.raises(MissingCheckpointError) as info:
        resolve_checkpoint("unknown_name.pth", tmp_path)
    assert "unknown_name.pth" in str(info.value)


def test_resolve_uses_env_weights_dir(monkeypatch, tmp_path, fake_entry):
    entry, data = fake_entry
    (tmp_path / entry.filename).write_bytes(data)
    monkeypatch.setenv("VOTS_TRACKER_WEIGHTS", str(tmp_path))
    assert resolve_checkpoint(entry.filename, None) == tmp_path / entry.filename


def test_verification_size_hash_and_cache(tmp_path, fake_entry, monkeypatch):
    entry, data = fake_entry
    path = tmp_path / entry.filename
    path.write_bytes(data)
    calls = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    assert resolve_checkpoint(entry.filename, tmp_path) == path
    assert resolve_checkpoint(entry.filename, tmp_path) == path
    assert len(calls) == 1, "the sha256 must be computed once and cached"
    sidecar = json.loads((tmp_path / (entry.filename + ".verified")).read_text())
    assert sidecar["sha256"] == entry.sha256 and sidecar["size"] == len(data)

    # same size, different content (mtime changes): hashed again and rejected
    path.write_bytes(data[:-1] + b"\x00")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(CheckpointVerificationError) as info:
        resolve_checkpoint(entry.filename, tmp_path)
    assert "sha256" in str(info.value) and entry.filename in str(info.value)
    # wrong size: rejected without hashing
    path.write_bytes(data[:100])
    n = len(calls)
    with pytest.raises(CheckpointVerificationError) as info:
        resolve_checkpoint(entry.filename, tmp_path)
    assert "100 bytes" in str(info.value) and len(calls) == n


def test_random_manifest_skips_checks_and_warns(tmp_path, fake_entry, caplog):
    entry, data = fake_entry
    path = tmp_path / entry.filename
    path.write_bytes(b"random weights of another size")
    registry.write_random_manifest(tmp_path, {entry.filename: {"kind": "dmaot", "model": "deaott",
                                                                "size": path.stat().st_size}})
    with caplog.at_level(logging.WARNING):
        assert resolve_checkpoint(entry.filename, tmp_path) == path
    assert any("RANDOM" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    # a path to a listed file warns too
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        resolve_checkpoint(str(path), None)
    assert any("RANDOM" in r.getMessage() for r in caplog.records)
    # replaced by a file of another size (e.g. an official download): no longer random, verified again
    path.write_bytes(data[:10])
    with pytest.raises(CheckpointVerificationError):
        resolve_checkpoint(entry.filename, tmp_path)


def test_init_random_manifest(tmp_path, monkeypatch, cli):
    """init-random (with stand-in writers) labels files RANDOM, keeps a manifest, refuses real files."""
    from vots_tracker.weights import random_init as wcli

    written = []

    def fake_writer(entry, path, seed):
        written.append((entry.model, seed))
        Path(path).write_bytes(f"{entry.model}:{seed}".encode())

    monkeypatch.setattr(wcli, "_write_random", fake_writer)
    res = cli("weights", "init-random", tmp_path, "deaott", "vit_tiny", "--seed", "3")
    assert res.code == 0, res.err
    assert "RANDOM" in res.out
    assert written == [("deaott", 3), ("vit_tiny", 3)]
    manifest = json.loads((tmp_path / "RANDOM_WEIGHTS.json").read_text())
    assert set(manifest["files"]) == {"DeAOTT_PRE_YTB_DAV.pth", "sam_hq_vit_tiny.pth"}
    assert "RANDOM" in manifest["warning"]
    assert manifest["files"]["DeAOTT_PRE_YTB_DAV.pth"]["model"] == "deaott"
    assert not list(tmp_path.glob("*tmp*"))

    # list shows them as RANDOM
    res = cli("weights", "list", "--weights-dir", tmp_path)
    assert res.code == 0
    line = [l for l in res.out.splitlines() if l.startswith("sam_hq_vit_tiny.pth")][0]
    assert "RANDOM" in line
    # verify: random files are reported, not failed
    res = cli("weights", "verify", "--weights-dir", tmp_path)
    assert res.code == 0, res.out + res.err
    assert res.out.count("RANDOM") == 2

    # a real (non-manifest) file is never overwritten with random weights
    (tmp_path / "DeAOTS_PRE_YTB_DAV.pth").write_bytes(b"official")
    res = cli("weights", "init-random", tmp_path, "DeAOTS_PRE_YTB_DAV.pth")
    assert_one_line_error(res, "DeAOTS_PRE_YTB_DAV.pth", "refusing")
    assert (tmp_path / "DeAOTS_PRE_YTB_DAV.pth").read_bytes() == b"official"

    # unknown name: one line error, nothing written
    res = cli("weights", "init-random", tmp_path / "other", "resnet9000")
    assert_one_line_error(res, "resnet9000")
    assert not (tmp_path / "other" / "RANDOM_WEIGHTS.json").exists()


def test_init_random_help_says_random(cli):
    res = cli("weights", "init-random", "--help")
    assert res.code == 0
    assert "RANDOM" in res.out


def test_weights_list_and_verify_missing(cli, tmp_path, fake_entry):
    res = cli("weights", "list", "--weights-dir", tmp_path)
    assert res.code == 0
    for e in ENTRIES:
        assert e.filename in res.out
    res = cli("weights", "verify", "--weights-dir", tmp_path)
    assert_one_line_error(res, "no checkpoint files")
    res = cli("weights", "verify", "sam_hq_vit_b.pth", "--weights-dir", tmp_path)
    assert res.code == 1 and "MISSING" in res.out
    entry, data = fake_entry
    (tmp_path / entry.filename).write_bytes(data[:-3])
    res = cli("weights", "verify", entry.filename, "--weights-dir", tmp_path)
    assert res.code == 1 and "FAILED" in res.out


def test_verify_deep_names_unloadable_file(cli, tmp_path, fake_entry):
    entry, data = fake_entry
    (tmp_path / entry.filename).write_bytes(data)  # right size and hash, but not a torch file
    res = cli("weights", "verify", entry.filename, "--deep", "--weights-dir", tmp_path)
    assert res.code == 1
    assert "torch cannot load" in res.out and entry.filename in res.out


def test_readme_synopses_name_every_weights_flag():
    """Each flag of `weights download | verify | init-random` appears in README's synopses."""
    import argparse
    from pathlib import Path

    from vots_tracker.cli import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Checkpoints (`vots-tracker weights`)"):]
    section = section[:section.index("\n## ", 5)]

    def subparsers(parser):
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    weights = subparsers(build_parser())["weights"]
    missing = []
    for action_name in ("download", "verify", "init-random"):
        for action in subparsers(weights)[action_name]._actions:
            flags = [f for f in action.option_strings if f.startswith("--") and f not in ("--help", "--weights-dir")]
            missing += [f"{action_name} {f}" for f in flags if f not in section]
    assert not missing, missing


def test_model_tables_and_registry_import_without_torch():
    """`weights list` and config validation read the model tables; torch loads only with the models."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, vots_tracker.weights.registry, vots_tracker.config, vots_tracker.components; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
