"""The one harness for tests that drive a ``vots-tracker serve`` process over TraX.

:class:`ServerProcess` starts the real server (or another command speaking TraX) with stdio
pipes. A relay thread sits between the server's stdout and vot-trax's client, so every byte
the server wrote to stdout can be checked for being TraX protocol (:meth:`protocol_only`).
A timer kills the process after ``timeout`` seconds, so no test can hang on it. Helpers
build requests (:func:`image`, :func:`regions`), read replies (:func:`reply_masks`) and
write small clips (:func:`write_clip`). Importable from any test folder: ``tests/`` is on
``sys.path`` through ``tests/conftest.py``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np
import trax
from trax.client import Client

ROOT = Path(__file__).resolve().parents[1]
H, W = 48, 64  # default clip size: nothing the server tests assert depends on frame size
# seconds; a server still running after this is killed and the test fails. A hang guard only (prompt exits
# are checked with their own, tight limits), sized for a shared 2-core machine running 2 xdist workers.
CASE_TIMEOUT = 180
SERVE = [sys.executable, "-m", "vots_tracker", "serve"]


def server_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


class ServerProcess:
    """``vots-tracker serve ARGV`` (or ``command ARGV``) with stdio pipes, killed after ``timeout`` seconds."""

    def __init__(self, argv: List[str], cwd: Path, command: Optional[List[str]] = None,
                 env: Optional[Dict[str, str]] = None, timeout: float = CASE_TIMEOUT):
        self.timeout = timeout
        self.stderr_path = Path(cwd) / f"server-{time.monotonic_ns()}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([*(command or SERVE), *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, cwd=cwd, env=server_env(env), bufsize=0)
        self.stdout_bytes = bytearray()
        self._client_read, self._relay_write = os.pipe()
        self._relay = threading.Thread(target=self._pump, daemon=True)
        self._relay.start()
        self.timed_out = False
        self._timer = threading.Timer(timeout, self._kill_hard)
        self._timer.daemon = True
        self._timer.start()
        self.client: Optional[Client] = None
        self.abandoned = False  # the scenario cut the client off; no polite quit at the end
        self._client_write: Optional[int] = None

    def _pump(self) -> None:
        while True:
            chunk = self.proc.stdout.read(65536)
            if not chunk:
                os.close(self._relay_write)
                return
            self.stdout_bytes.extend(chunk)
            os.write(self._relay_write, chunk)

    def _kill_hard(self) -> None:
        self.timed_out = True
        if self.proc.poll() is None:
            self.proc.kill()

    def connect(self) -> Client:
        """The TraX handshake through vot-trax's client.

        The client writes to a duplicate of the server's input, which ``disconnect`` can swap for
        /dev/null: the pipe closes (a vanished client) while the fd the client object holds stays valid.
        """
        self._client_write = os.dup(self.proc.stdin.fileno())
        self.proc.stdin.close()
        self.client = Client(stream=(self._client_write, self._client_read), timeout=self.timeout,
                             log=lambda _text: None)
        return self.client

    def disconnect(self) -> None:
        """Close the client's end of the server's input, as a client that dies would."""
        if self._client_write is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._client_write)
            os.close(devnull)
        elif not self.proc.stdin.closed:
            self.proc.stdin.close()

    def read_hello(self, timeout: Optional[float] = None) -> bytes:
        """Wait for the server's hello line without a client (raw-protocol cases)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.stdout_bytes and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        return bytes(self.stdout_bytes).split(b"\n", 1)[0]

    def write_raw(self, data: bytes, close: bool = False) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        if close:
            self.proc.stdin.close()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait_catching(self, signum: int, timeout: float = 30.0) -> bool:
        """Wait until the process has a handler for ``signum`` (SigCgt in /proc), so a signal is not fatal."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(f"/proc/{self.proc.pid}/status") as handle:
                    caught = next(int(line.split()[1], 16) for line in handle if line.startswith("SigCgt:"))
            except (OSError, StopIteration):
                caught = 0
            if caught >> (signum - 1) & 1:
                return True
            time.sleep(0.02)
        return False

    def exit_code(self, timeout: float) -> Optional[int]:
        """The exit status, or None if the server is still running after ``timeout`` seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Quit politely if a client is connected and not abandoned, then make sure the process is gone."""
        if self.client is not None:
            if self.proc.poll() is None and not self.abandoned:
                try:
                    self.client.quit()
                except Exception:  # the server may have quit already
                    pass
            # libtrax's client cleanup segfaults after an unclean end (server killed, input closed):
            # the suite leaks the small C handle instead of freeing it.
            self.client._handle.ref.finalizer = None
        self.disconnect()
        if self.exit_code(30) is None:
            self.proc.kill()
            self.proc.wait()
        self._timer.cancel()
        self._relay.join(timeout=10)
        self._stderr.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stdout_lines(self) -> List[bytes]:
        return [line for line in bytes(self.stdout_bytes).split(b"\n") if line]

    def protocol_only(self) -> bool:
        """True if every line the server wrote to stdout is a TraX protocol line."""
        return all(line.startswith(b"@@TRAX:") for line in self.stdout_lines())

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for a reaper counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in (b"Z", b"X")


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.05)
    return process_gone(pid)


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- requests, replies, clips


def image(path) -> dict:
    return {trax.ImageChannel.COLOR: trax.FileImage.create(str(path))}


def regions(masks) -> list:
    from vots_tracker.server.protocol import mask_to_region

    return [(mask_to_region(mask), {}) for mask in masks]


def reply_masks(reply, size=(H, W)) -> List[np.ndarray]:
    """Frame-sized boolean masks from a server reply (asserting each region fits the frame)."""
    from vots_tracker.server.protocol import region_to_mask

    return [region_to_mask(region, size, index) for index, (region, _props) in enumerate(reply)]


def write_clip(folder: Path, frames: int = 4, objects: int = 2, size=(H, W)) -> tuple:
    """Textured frames with square objects moving right; returns (paths, per-frame mask lists)."""
    folder.mkdir(parents=True, exist_ok=True)
    height, width = size
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    side = max(2, min(height, width) // (objects + 2))
    paths, masks = [], []
    for t in range(frames):
        image = background.copy()
        frame_masks = []
        for k in range(objects):
            mask = np.zeros((height, width), dtype=bool)
            y = (k * side) % max(1, height - side)
            x = min(width - side, 2 + t + (k // max(1, height // side)) * side)
            mask[y:y + side, x:x + side] = True
            image[mask] = (40 * k % 255, 255 - 30 * k % 255, 90)
            frame_masks.append(mask)
        path = folder / f"{t:08d}.jpg"
        cv2.imwrite(str(path), image[:, :, ::-1])
        paths.append(path)
        masks.append(frame_masks)
    return paths, masks


def tree_hashes(*folders: Path) -> Dict[str, str]:
    """sha256 of every file under the folders (inputs must be unchanged by any case)."""
    hashes = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes
