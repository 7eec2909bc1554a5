"""Files without a published hash (SAM 2.1): the first copy's sha256 is pinned, later mismatches refused."""

from __future__ import annotations

import hashlib
import os

import pytest

from vots_tracker.weights import registry
from vots_tracker.weights.download import download
from vots_tracker.weights.pins import pin_path, read_pin
from vots_tracker.weights.registry import CheckpointEntry, CheckpointVerificationError

DATA = os.urandom(1 << 20)
OTHER = bytes(reversed(DATA))  # same size, another sha256
TINY = "sam2.1_hiera_tiny.pt"


def test_first_download_is_pinned_and_a_different_file_is_refused(http_server, tmp_path):
    http_server.state.files["pinned.pt"] = DATA
    entry = CheckpointEntry("pinned.pt", "sam2", "sam2.1_hiera_t", (f"{http_server.base_url}/file/pinned.pt",),
                            len(DATA), None, pin_sha256=True)
    path = download(entry, tmp_path, retries=0, timeout=10, progress=False)
    assert read_pin(path) == hashlib.sha256(DATA).hexdigest()
    http_server.state.files["pinned.pt"] = OTHER  # the source now serves another file of the same size
    with pytest.raises(CheckpointVerificationError, match=r"pinned.pt has sha256 \w+, but the first copy recorded"):
        download(entry, tmp_path, retries=0, timeout=10, progress=False)
    assert path.read_bytes() == DATA and not (tmp_path / "pinned.pt.part").exists()
    path.write_bytes(OTHER)  # swapped in place
    with pytest.raises(CheckpointVerificationError, match="delete the pin to accept it on purpose"):
        registry.verify_file(path, entry)
    path.write_bytes(DATA)
    assert registry.verify_file(path, entry) == read_pin(path)


def test_weights_list_and_verify_say_what_is_pinned(tmp_path, cli):
    folder = tmp_path / "weights"
    folder.mkdir()
    path = folder / TINY
    with open(path, "wb") as handle:  # the published size, placed by hand
        handle.truncate(registry.REGISTRY[TINY].size)

    def row():
        result = cli("weights", "list", "--weights-dir", folder)
        return next(line for line in result.out.splitlines() if line.startswith(TINY))

    assert "unpublished; pinned at first download" in row()
    result = cli("weights", "verify", TINY, "--weights-dir", folder)
    assert result.code == 0 and "sha256 matches the first download's" in result.out
    assert pin_path(path).is_file() and "pinned at first download" in row() and "verified" in row()
    with open(path, "r+b") as handle:  # one byte changed, same size
        handle.seek(1000)
        handle.write(b"x")
    result = cli("weights", "verify", TINY, "--weights-dir", folder)
    assert result.code == 1 and "but the first copy recorded had" in result.out and "WRONG SHA256" in row()
    with pytest.raises(CheckpointVerificationError) as info:
        registry.resolve_checkpoint(TINY, folder)
    assert "\n" not in str(info.value) and str(pin_path(path)) in str(info.value)
