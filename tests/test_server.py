"""The TraX server driven by the real libtrax client (vot-trax), on random-init weights.

A relay thread sits between the server's stdout and the client so the test can
check that stdout carried nothing but protocol lines.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import trax
from trax.client import Client

from vots_tracker.server.protocol import mask_to_region

ROOT = Path(__file__).resolve().parents[1]
H, W = 120, 160


class ServerUnderTest:
    def __init__(self, argv, cwd):
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.stderr_path = Path(cwd) / "server.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vots_tracker", "serve", *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=cwd, env=env, bufsize=0,
        )
        client_read, self._relay_write = os.pipe()
        self.stdout_bytes = bytearray()
        self._relay = threading.Thread(target=self._pump, daemon=True)
        self._relay.start()
        self.client_log = []
        self.client = Client(stream=(self.proc.stdin.fileno(), client_read), timeout=120, log=self.client_log.append)
        self._client_read = client_read

    def _pump(self):
        while True:
            chunk = self.proc.stdout.read(65536)
            if not chunk:
                os.close(self._relay_write)
                return
            self.stdout_bytes.extend(chunk)
            os.write(self._relay_write, chunk)

    def close(self):
        try:
            self.client.quit()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._relay.join(timeout=10)
            self._stderr.close()

    def stdout_lines(self):
        return [line for line in bytes(self.stdout_bytes).split(b"\n") if line]

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")


def write_clip(folder: Path, frames: int = 6):
    """Frames with three textured blobs moving right; returns paths and per-frame masks."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), (9, 9), 3)
    paths, masks = [], []
    for t in range(frames):
        image = background.copy()
        frame_masks = []
        for k, (y, colour) in enumerate([(20, (255, 40, 40)), (60, (40, 255, 40)), (95, (40, 40, 255))]):
            mask = np.zeros((H, W), dtype=bool)
            x = 10 + 6 * t + 30 * k
            mask[y : y + 18, x : x + 24] = True
            image[mask] = colour
            frame_masks.append(mask)
        path = folder / f"{t:08d}.jpg"
        cv2.imwrite(str(path), image[:, :, ::-1])
        paths.append(path)
        masks.append(frame_masks)
    return paths, masks


def image(path):
    return {trax.ImageChannel.COLOR: trax.FileImage.create(str(path))}


def objects(masks):
    return [(mask_to_region(mask), {}) for mask in masks]


@pytest.fixture(scope="module")
def weights_dir(smoke_weights):
    return smoke_weights


@pytest.fixture()
def clip(tmp_path):
    return write_clip(tmp_path / "frames")


def start(tmp_path, weights_dir, preset="dmaot_smoke", *extra):
    return ServerUnderTest(["--preset", preset, "--weights-dir", str(weights_dir), *extra], cwd=tmp_path)


@pytest.mark.slow
def test_objects_initialised_later_are_always_listed(tmp_path, weights_dir, clip):
    paths, masks = clip
    server = start(tmp_path, weights_dir, "hqsam_gate_smoke", "--redetect", "--cycle")
    try:
        assert server.client.get("multiobject")
        reply, _ = server.client.initialize(image(paths[0]), objects(masks[0][:2]), {})
        assert len(reply) == 2
        counts = []
        for t in range(1, len(paths)):
            new = objects([masks[t][2]]) if t == 3 else []
            reply, _ = server.client.frame(image(paths[t]), {}, new)
            counts.append(len(reply))
            for region, _props in reply:
                assert region.type == trax.Region.MASK
                width, height = region.size()
                x, y = region.offset()
                assert x + width <= W and y + height <= H
        assert counts == [2, 2, 3, 3, 3]
    finally:
        server.close()
    assert server.proc.returncode == 0, server.stderr()
    lines = server.stdout_lines()
    assert lines and all(line.startswith(b"@@TRAX:") for line in lines), lines[:5]
    assert "initialized 2 object(s)" in server.stderr()


def run_until_error(server, paths, masks, first_objects=None, bad_frame=None):
    """Initialise, then send frames (one of them replaced by bad_frame); return the quit reason."""
    with pytest.raises(trax.TraxException) as error:
        server.client.initialize(image(paths[0]), first_objects or objects(masks[0][:2]), {})
        for t in range(1, len(paths)):
            path = bad_frame if (bad_frame is not None and t == 2) else paths[t]
            server.client.frame(image(path), {}, [])
    return str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["missing", "unreadable", "mask_outside"])
def test_errors_end_the_session_with_a_named_cause(tmp_path, weights_dir, clip, problem):
    paths, masks = clip
    server = start(tmp_path, weights_dir)
    try:
        if problem == "missing":
            reason = run_until_error(server, paths, masks, bad_frame=tmp_path / "nope" / "00000099.jpg")
            assert "frame file not found" in reason and "00000099.jpg" in reason
        elif problem == "unreadable":
            broken = tmp_path / "broken.jpg"
            broken.write_bytes(b"this is not a jpeg")
            reason = run_until_error(server, paths, masks, bad_frame=broken)
            assert "cannot decode frame image" in reason and "broken.jpg" in reason
        else:
            big = np.ones((H + 10, W + 10), dtype=np.uint8)
            region = trax.Mask.create(big, 0, 0)
            reason = run_until_error(server, paths, masks, first_objects=[(region, {})])
            assert "object 1" in reason and "outside" in reason
    finally:
        server.close()
    assert server.proc.returncode == 1
    lines = server.stdout_lines()
    assert all(line.startswith(b"@@TRAX:") for line in lines), lines[:5]


def test_missing_checkpoint_is_reported_through_the_protocol(tmp_path, clip):
    paths, masks = clip
    empty = tmp_path / "no-weights"
    empty.mkdir()
    server = ServerUnderTest(["--preset", "dmaot_smoke", "--weights-dir", str(empty)], cwd=tmp_path)
    try:
        with pytest.raises(trax.TraxException, match="DeAOTT_PRE_YTB_DAV.pth"):
            server.client.initialize(image(paths[0]), objects(masks[0][:1]), {})
    finally:
        server.close()
    assert server.proc.returncode == 1
    assert "DeAOTT_PRE_YTB_DAV.pth" in server.stderr()
