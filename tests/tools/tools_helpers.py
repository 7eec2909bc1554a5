"""Helpers for the tools tests: shared sample data, a loopback HTTP server, CLI runners."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    env = os.environ.get("VOTS_TRACKER_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def shared_sequence(name: str) -> Path:
    path = shared_data_dir() / name
    if not path.is_dir():
        pytest.skip(f"shared sample data {path} is absent")
    return path


# --------------------------------------------------------------------------- CLI


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run ``vots-tracker ARGS`` in-process; returns exit code, stdout, stderr."""
    from vots_tracker.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_subprocess(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 120) -> Result:
    """Run ``python -m vots_tracker ARGS`` in a fresh process (for exact stderr checks)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "vots_tracker", *map(str, args)], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.code != 0, result
    assert "Traceback" not in result.err, result.err
    lines = [l for l in result.err.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("vots-tracker: error:")]
    assert len(errors) == 1, result.err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


# --------------------------------------------------------------------------- loopback HTTP server


@dataclass
class ServerState:
    files: Dict[str, bytes] = field(default_factory=dict)
    drops: Dict[str, List[int]] = field(default_factory=dict)  # name -> bytes to send before dropping, per request
    no_range: set = field(default_factory=set)
    requests: List[Tuple[str, Optional[str]]] = field(default_factory=list)
    cookie_token: str = "TOKEN123"


class _Handler(BaseHTTPRequestHandler):
    state: ServerState
    timeout = 10

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send_html(self, body: str, headers: Dict[str, str] = None, code: int = 200):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_file(self, name: str):
        state = self.state
        if name not in state.files:
            self.send_error(404)
            return
        data = state.files[name]
        start = 0
        rng = self.headers.get("Range")
        if rng and name not in state.no_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        drops = state.drops.get(name)
        if drops:
            cut = drops.pop(0)
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)

    def do_GET(self):
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.state.requests.append((self.path, self.headers.get("Range")))
        path = parts.path
        if path.startswith("/file/"):
            return self._send_file(urllib.parse.unquote(path[len("/file/"):]))
        if path == "/uc":  # Google-Drive-like: a 'cannot scan for viruses' page with a form
            name = query.get("id", "")
            return self._send_html(
                "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
                "<p>Google Drive can't scan this file for viruses.</p>"
                '<form id="download-form" action="/download" method="get">'
                '<input type="submit" id="uc-download-link" value="Download anyway"/>'
                f'<input type="hidden" name="id" value="{name}">'
                '<input type="hidden" name="export" value="download">'
                '<input type="hidden" name="confirm" value="t">'
                '<input type="hidden" name="uuid" value="1234-abcd">'
                "</form></body></html>"
            )
        if path == "/download":
            if query.get("confirm") != "t" or query.get("uuid") != "1234-abcd":
                return self._send_html("<html><body>bad confirmation</body></html>", code=400)
            return self._send_file(query.get("id", ""))
        if path == "/cookie":  # the older Drive flow: download_warning cookie, confirm=<token>
            if query.get("confirm") == self.state.cookie_token:
                return self._send_file(query.get("id", ""))
            return self._send_html(
                "<html><body>Google Drive - large file</body></html>",
                {"Set-Cookie": f"download_warning_13058876669334088843_1ABC={self.state.cookie_token}; Path=/"},
            )
        if path == "/quota":
            return self._send_html("<html><body>Sorry, you can't view or download this file at this time. "
                                   "Too many users have viewed or downloaded this file recently.</body></html>")
        self.send_error(404)


@pytest.fixture
def http_server():
    """A loopback HTTP server in a thread; stopped (and its thread joined) at teardown."""
    state = ServerState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    server.state = state  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def unused_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
