"""VOT toolkit hygiene: run ``vot`` steps with logs, check results, read Q.

The toolkit exits 0 when a tracker crashes, results are missing or an analysis
produces nothing, so every step here is checked from its *outputs*:

* :func:`check_results` lists every sequence/object whose result trajectory is
  missing, unreadable or of the wrong length (per the stack's experiments);
* :func:`run_vot` runs a ``vot`` subcommand in a subprocess, with the workspace's
  ``NUMBA_CACHE_DIR`` (``<workspace>/.numba-cache``: numba compiles the analysis
  code once, ~30 s, instead of on every run), a non-interactive matplotlib backend,
  the toolkit's update check (a GitHub request) switched off and, optionally,
  dataset downloads turned into errors; the full output goes to a log file;
* :func:`clear_cache` removes ``<workspace>/cache`` (the analysis cache is keyed by
  tracker/sequence names, not by result content: re-run results would be ignored);
* :func:`read_quality` reads Q (``average_accuracy``) from ``vot analysis`` JSON.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from ..errors import UserError

logger = logging.getLogger(__name__)

NUMBA_CACHE = ".numba-cache"
LOG_DIR = Path("logs") / "vots-tracker"

# Runs the toolkit CLI with the update check (a GitHub request on every command) disabled
# and, with VOTS_TRACKER_NO_DOWNLOAD=1, with dataset downloads turned into errors.
_VOT_BOOTSTRAP = (
    "import os, sys, vot.utilities.cli as cli; cli.check_updates = lambda: (False, None)\n"
    "if os.environ.get('VOTS_TRACKER_NO_DOWNLOAD') == '1':\n"
    "    import vot.dataset\n"
    "    def _refuse(url, *a, **k):\n"
    "        raise RuntimeError('vots-tracker: offline run refused to download ' + str(url))\n"
    "    vot.dataset.download_dataset = _refuse\n"
    "sys.argv[0] = 'vot'\n"
    "cli.main()\n"
)


class ToolkitError(UserError):
    """A toolkit step failed (the message names the step and its log)."""


# --------------------------------------------------------------------------------------
# environment, cache
# --------------------------------------------------------------------------------------


def toolkit_env(workspace: os.PathLike, offline: bool = False, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment for toolkit subprocesses of a workspace."""
    env = dict(os.environ if base is None else base)
    workspace = Path(workspace).resolve()
    env.setdefault("NUMBA_CACHE_DIR", str(workspace / NUMBA_CACHE))
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if offline:
        env["VOTS_TRACKER_NO_DOWNLOAD"] = "1"
    return env


def set_numba_cache(workspace: os.PathLike) -> Path:
    """Point numba's on-disk cache at ``<workspace>/.numba-cache`` for this process (in-process analyses)."""
    path = Path(workspace).resolve() / NUMBA_CACHE
    path.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(path))
    return Path(os.environ["NUMBA_CACHE_DIR"])


def clear_cache(workspace: os.PathLike) -> bool:
    """Remove ``<workspace>/cache`` (stale analysis results); True if something was removed."""
    cache = Path(workspace) / "cache"
    if cache.exists():
        shutil.rmtree(cache)
        logger.info("cleared the analysis cache %s", cache)
        return True
    return False


# --------------------------------------------------------------------------------------
# running vot
# --------------------------------------------------------------------------------------


@dataclass
class VotRun:
    args: List[str]
    returncode: int
    log: Path
    seconds: float
    tail: str

    @property
    def command(self) -> str:
        return "vot " + " ".join(self.args)


def vot_command(args: Sequence[str]) -> List[str]:
    """argv that runs ``vot ARGS`` with the current interpreter (and the bootstrap above)."""
    return [sys.executable, "-c", _VOT_BOOTSTRAP, *args]


def run_vot(
    args: Sequence[str],
    workspace: os.PathLike,
    log_name: str,
    offline: bool = False,
    echo: bool = False,
    timeout: Optional[float] = None,
    cwd: Optional[os.PathLike] = None,
) -> VotRun:
    """Run ``vot ARGS`` (cwd: the workspace), writing stdout+stderr to ``<ws>/logs/vots-tracker/<log_name>.log``.

    Raises ToolkitError if the process exits non-zero or times out (exit 0 proves nothing:
    check outputs). ``echo`` copies the output to stderr as it comes.
    """
    workspace = Path(workspace).resolve()
    log_dir = workspace / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{log_name}.log"
    args = list(args)
    with ascii_route(workspace) as route:
        routed = [_reroute(arg, workspace, route) for arg in args]
        cwd = _reroute(str(cwd or workspace), workspace, route)
        return _run_logged(args, routed, workspace, log_path, offline, echo, timeout, cwd)


def _run_logged(args: List[str], routed: List[str], workspace: Path, log_path: Path, offline: bool, echo: bool,
                timeout: Optional[float], cwd: str) -> VotRun:
    """The body of :func:`run_vot`: run ``vot ROUTED``, tee the output into the log, check the exit."""
    argv = vot_command(routed)
    logger.info("running: vot %s  (log: %s)", " ".join(args), log_path)
    start = time.monotonic()
    lines: List[str] = []
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"$ vot {' '.join(args)}\n")
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=toolkit_env(workspace, offline=offline),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        try:
            _copy_output(proc, log, lines, echo, start, timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except BaseException:  # Ctrl-C, SIGTERM, SIGHUP (stop_signals): do not leave the toolkit running
            proc.kill()
            proc.wait()
            raise
    seconds = time.monotonic() - start
    tail = "".join(lines[-40:])
    run = VotRun(list(args), proc.returncode, log_path, seconds, tail)
    if timeout is not None and seconds > timeout:
        raise ToolkitError(f"`{run.command}` ran past {timeout:.0f} s and was stopped; log: {log_path}")
    if proc.returncode != 0:
        raise ToolkitError(f"`{run.command}` exited {proc.returncode}; log: {log_path}\n{_indent(tail)}")
    logger.info("finished: vot %s (%.1f s)", " ".join(args), seconds)
    return run


@contextlib.contextmanager
def ascii_route(workspace: Path) -> Iterator[Path]:
    """The workspace reached through an ASCII-only path, for as long as the toolkit runs.

    libtrax's server-side parser rejects frame paths holding non-ASCII characters, so a
    workspace under such a path fails every sequence. The toolkit keeps absolute paths as
    given (it does not resolve symlinks), so a symlink under an ASCII temporary folder
    makes every frame path it sends ASCII.
    """
    if str(workspace).isascii():
        yield workspace
        return
    base = Path(tempfile.gettempdir())
    folder = Path(tempfile.mkdtemp(prefix="vots-ws-", dir=base if str(base).isascii() else "/tmp"))
    link = folder / "workspace"
    os.symlink(workspace, link, target_is_directory=True)
    if workspace not in _ANNOUNCED_ROUTES:
        _ANNOUNCED_ROUTES.add(workspace)
        logger.info("workspace path %s holds non-ASCII characters, which TraX cannot carry: "
                    "running the toolkit through the symlink %s", workspace, link)
    try:
        yield link
    finally:
        os.unlink(link)
        os.rmdir(folder)


_ANNOUNCED_ROUTES: set = set()  # workspaces whose symlink route was already logged (one INFO line each)


def _reroute(arg: str, workspace: Path, route: Path) -> str:
    """``arg`` with a leading workspace path replaced by ``route``."""
    text, prefix = str(arg), str(workspace)
    if route == workspace or not (text == prefix or text.startswith(prefix + os.sep)):
        return text
    return str(route) + text[len(prefix):]


def _copy_output(proc, log, lines: List[str], echo: bool, start: float, timeout: Optional[float]) -> None:
    """Copy the process's output to the log (and stderr with ``echo``), keeping a tail in ``lines``."""
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        lines.append(line)
        if len(lines) > 400:
            del lines[:200]
        if echo:
            sys.stderr.write(line)
        if timeout is not None and time.monotonic() - start > timeout:
            proc.kill()
            break
    proc.wait(timeout=None if timeout is None else max(1.0, timeout - (time.monotonic() - start)))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def toolkit_errors(log_path: os.PathLike) -> List[str]:
    """Error lines the toolkit logged (it exits 0 anyway): tracker errors, tracebacks, failed steps."""
    markers = ("Error", "error", "Traceback", "Exception", "interrupted", "not complete", "Unable to")
    out = []
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines()[1:]:
        line = _ANSI.sub("", line).strip()
        if any(m in line for m in markers):
            out.append(line)
    return out


# --------------------------------------------------------------------------------------
# results completeness
# --------------------------------------------------------------------------------------


def load_workspace(workspace: os.PathLike, allow_download: bool = False):
    """Load a toolkit workspace in-process; refuses to trigger the toolkit's dataset download."""
    from ..workspace.folder import sequences_present

    workspace = Path(os.path.abspath(workspace))  # not resolve(): keep an ASCII symlink route (ascii_route)
    if not (workspace / "config.yaml").is_file():
        raise UserError(f"{workspace} is not a workspace (no config.yaml); run `vots-tracker workspace init`")
    if not allow_download and not sequences_present(workspace):
        raise UserError(
            f"{workspace}/sequences/list.txt is missing: loading this workspace would download the dataset"
        )
    from vot.workspace import Workspace

    return Workspace.load(str(workspace))


def log_summary(log: Path, limit: int = 3) -> str:
    """The toolkit log's last error lines, joined (for one-line messages)."""
    errors = toolkit_errors(log)
    if not errors:
        return "no error in the toolkit log"
    return " | ".join(errors[-limit:])
