"""Shared fixtures: random-init checkpoints in the official formats, small synthetic clips."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VOTS_TRACKER_SHARED_DATA", ROOT.parent / "shared" / "data"))

SMOKE_FILES = ("DeAOTT_PRE_YTB_DAV.pth", "sam_hq_vit_tiny.pth")


def write_random_weights(folder: Path, names=SMOKE_FILES) -> Path:
    """Random-init checkpoints under their official names, through the same writers `weights init-random` uses."""
    from vots_tracker.weights.random_init import init_random

    init_random(folder, list(names))
    return folder


@pytest.fixture(scope="session")
def smoke_weights(tmp_path_factory) -> Path:
    return write_random_weights(tmp_path_factory.mktemp("smoke-weights"))
