"""Downloads from a loopback HTTP server: progress, resume, verification, temp-then-move, Drive pages, offline."""

from __future__ import annotations

import hashlib
import os

import pytest

from tools_helpers import assert_one_line_error, run_subprocess, unused_port
from vots_tracker.weights import registry
from vots_tracker.weights.download import DownloadError, confirmation_url, download
from vots_tracker.weights.registry import CheckpointEntry, CheckpointVerificationError

DATA = os.urandom(3 * (1 << 20) + 12345)  # a bit over 3 MiB: several read chunks


def _entry(urls, data=DATA, size=True, sha=True, name="test_ckpt.pth"):
    return CheckpointEntry(name, "dmaot", "deaott", tuple(urls), len(data) if size else None,
                           hashlib.sha256(data).hexdigest() if sha else None)


def test_download_progress_and_move(http_server, tmp_path, capsys):
    http_server.state.files["test_ckpt.pth"] = DATA
    entry = _entry([f"{http_server.base_url}/file/test_ckpt.pth"])
    path = download(entry, tmp_path / "w", retries=0, timeout=10)
    assert path == tmp_path / "w" / "test_ckpt.pth"
    assert path.read_bytes() == DATA
    assert not (tmp_path / "w" / "test_ckpt.pth.part").exists()
    err = capsys.readouterr().err
    assert "test_ckpt.pth" in err and "100%" in err  # tqdm progress bar on stderr
    # the hash was recorded while downloading: resolving does not hash again
    assert registry.cached_sha256(path) == entry.sha256


def test_resume_after_dropped_connection(http_server, tmp_path):
    state = http_server.state
    state.files["test_ckpt.pth"] = DATA
    state.drops["test_ckpt.pth"] = [1_000_000, 500_000]  # two drops, then complete
    entry = _entry([f"{http_server.base_url}/file/test_ckpt.pth"])
    path = download(entry, tmp_path, retries=3, timeout=10, backoff=0.01, progress=False)
    assert path.read_bytes() == DATA
    ranges = [r for _, r in state.requests]
    assert ranges == [None, "bytes=1000000-", "bytes=1500000-"]


def test_interrupted_run_leaves_only_part_then_resumes(http_server, tmp_path, monkeypatch):
    state = http_server.state
    state.files["test_ckpt.pth"] = DATA
    state.drops["test_ckpt.pth"] = [2_000_000]
    entry = _entry([f"{http_server.base_url}/file/test_ckpt.pth"])
    with pytest.raises(DownloadError) as info:
        download(entry, tmp_path, retries=0, timeout=10, progress=False)
    assert "test_ckpt.pth.part" in str(info.value)
    assert not (tmp_path / "test_ckpt.pth").exists(), "an incomplete file must never get the final name"
    assert (tmp_path / "test_ckpt.pth.part").stat().st_size == 2_000_000
    # resolve_checkpoint tells the user that a partial download exists
    monkeypatch.setitem(registry.REGISTRY, entry.filename, entry)
    with pytest.raises(registry.MissingCheckpointError) as missing:
        registry.resolve_checkpoint(entry.filename, tmp_path)
    assert "test_ckpt.pth.part" in str(missing.value) and "resume" in str(missing.value)
    # second run resumes with a Range request
    path = download(entry, tmp_path, retries=0, timeout=10, progress=False)
    assert path.read_bytes() == DATA
    assert state.requests[-1][1] == "bytes=2000000-"


def test_server_without_range_support_restarts(http_server, tmp_path):
    state = http_server.state
    state.files["test_ckpt.pth"] = DATA
    state.no_range.add("test_ckpt.pth")
    (tmp_path / "test_ckpt.pth.part").write_bytes(DATA[:1000])
    entry = _entry([f"{http_server.base_url}/file/test_ckpt.pth"])
    assert download(entry, tmp_path, retries=0, timeout=10, progress=False).read_bytes() == DATA


def test_hash_mismatch_removes_part_and_keeps_final_absent(http_server, tmp_path):
    http_server.state.files["test_ckpt.pth"] = DATA
    entry = CheckpointEntry("test_ckpt.pth", "dmaot", "deaott", (f"{http_server.base_url}/file/test_ckpt.pth",),
                            len(DATA), "0" * 64)
    with pytest.raises(CheckpointVerificationError) as info:
        download(entry, tmp_path, retries=0, timeout=10, progress=False)
    assert "sha256" in str(info.value)
    assert not (tmp_path / "test_ckpt.pth").exists() and not (tmp_path / "test_ckpt.pth.part").exists()


def test_size_mismatch_is_rejected(http_server, tmp_path):
    http_server.state.files["test_ckpt.pth"] = DATA
    entry = CheckpointEntry("test_ckpt.pth", "dmaot", "deaott", (f"{http_server.base_url}/file/test_ckpt.pth",),
                            len(DATA) + 1, None)
    with pytest.raises(DownloadError) as info:
        download(entry, tmp_path, retries=0, timeout=10, progress=False)
    assert "expected" in str(info.value)
    assert not (tmp_path / "test_ckpt.pth").exists()


def test_google_drive_confirmation_form(http_server, tmp_path):
    http_server.state.files["FILEID"] = DATA
    entry = _entry([f"{http_server.base_url}/uc?export=download&id=FILEID"])
    path = download(entry, tmp_path, retries=0, timeout=10, progress=False)
    assert path.read_bytes() == DATA
    paths = [p for p, _ in http_server.state.requests]
    assert paths[0].startswith("/uc?") and paths[1].startswith("/download?") and "confirm=t" in paths[1]


def test_google_drive_confirmation_form_resumes(http_server, tmp_path):
    state = http_server.state
    state.files["FILEID"] = DATA
    state.drops["FILEID"] = [700_000]
    entry = _entry([f"{http_server.base_url}/uc?export=download&id=FILEID"])
    path = download(entry, tmp_path, retries=2, timeout=10, backoff=0.01, progress=False)
    assert path.read_bytes() == DATA
    assert ("bytes=700000-" in [r for p, r in state.requests if p.startswith("/download")])


def test_google_drive_cookie_token(http_server, tmp_path):
    http_server.state.files["FILEID"] = DATA
    entry = _entry([f"{http_server.base_url}/cookie?export=download&id=FILEID"], sha=False, size=False)
    path = download(entry, tmp_path, retries=0, timeout=10, progress=False)
    assert path.read_bytes() == DATA
    assert any("confirm=TOKEN123" in p for p, _ in http_server.state.requests)


def test_google_drive_quota_page_is_a_clear_error(http_server, tmp_path):
    entry = _entry([f"{http_server.base_url}/quota?id=FILEID"])
    with pytest.raises(DownloadError) as info:
        download(entry, tmp_path, retries=0, timeout=10, progress=False)
    msg = str(info.value)
    assert "quota" in msg and "test_ckpt.pth" in msg and str(tmp_path / "test_ckpt.pth") in msg
    assert not list(tmp_path.iterdir())


def test_fallback_to_second_url(http_server, tmp_path):
    http_server.state.files["test_ckpt.pth"] = DATA
    entry = _entry([f"{http_server.base_url}/file/missing.pth", f"{http_server.base_url}/file/test_ckpt.pth"])
    assert download(entry, tmp_path, retries=0, timeout=10, progress=False).read_bytes() == DATA


def test_confirmation_url_parsing():
    page = ('<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">'
            '<input type="hidden" name="id" value="ABC"><input type="hidden" name="export" value="download">'
            '<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="u-1"></form>')
    url = confirmation_url(page, "https://drive.google.com/uc?export=download&id=ABC")
    assert url == "https://drive.usercontent.google.com/download?id=ABC&export=download&confirm=t&uuid=u-1"
    link = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=Xy_1&amp;id=ABC">Download anyway</a>'
    assert confirmation_url(link, "https://drive.google.com/uc?export=download&id=ABC") == \
        "https://drive.google.com/uc?export=download&confirm=Xy_1&id=ABC"
    assert confirmation_url("<html>nothing</html>", "https://x/") is None


def test_cli_download_via_mirror(http_server, tmp_path, cli):
    """`weights download NAME --mirror URL` fetches a registry file, verifies, and replaces a RANDOM one."""
    http_server.state.files["DeAOTT_PRE_YTB_DAV.pth"] = DATA
    (tmp_path / "DeAOTT_PRE_YTB_DAV.pth").write_bytes(b"random")
    registry.write_random_manifest(tmp_path, {"DeAOTT_PRE_YTB_DAV.pth": {"size": 6}})
    res = cli("weights", "download", "deaott", "--weights-dir", tmp_path,
              "--mirror", f"{http_server.base_url}/file", "--retries", "0")
    assert res.code == 0, res.err
    assert res.out.strip() == str(tmp_path / "DeAOTT_PRE_YTB_DAV.pth")
    assert (tmp_path / "DeAOTT_PRE_YTB_DAV.pth").read_bytes() == DATA
    assert not registry.is_random(tmp_path / "DeAOTT_PRE_YTB_DAV.pth")
    assert not (tmp_path / "RANDOM_WEIGHTS.json").exists()
    # already present: nothing fetched again
    n = len(http_server.state.requests)
    res = cli("weights", "download", "DeAOTT_PRE_YTB_DAV.pth", "--weights-dir", tmp_path,
              "--mirror", f"{http_server.base_url}/file")
    assert res.code == 0 and len(http_server.state.requests) == n


def test_cli_offline_is_one_clear_line(tmp_path):
    port = unused_port()
    res = run_subprocess("weights", "download", "sam_hq_vit_tiny.pth", "--weights-dir", tmp_path,
                         "--mirror", f"http://127.0.0.1:{port}", "--retries", "1")
    line = assert_one_line_error(res, "sam_hq_vit_tiny.pth",
                                 "https://huggingface.co/lkeab/hq-sam/resolve/main/sam_hq_vit_tiny.pth",
                                 str(tmp_path / "sam_hq_vit_tiny.pth"))
    assert "cannot reach" in line
    assert not list(tmp_path.glob("sam_hq_vit_tiny.pth*"))


def test_cli_unknown_name(cli, tmp_path):
    res = cli("weights", "download", "no_such_model", "--weights-dir", tmp_path)
    assert_one_line_error(res, "no_such_model")
