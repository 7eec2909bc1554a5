"""``trackers.ini``: read the repository-root entries, render a workspace's file.

Every entry is rewritten to ``protocol = traxpython`` with ``python`` set to the
current interpreter (``sys.executable``), ``paths`` set to the directory that holds
the ``vots_tracker`` package, and a ``command`` that runs exactly
``python -m vots_tracker <args>`` (through ``runpy``: the toolkit's ``traxpython``
protocol only accepts a bare module name or Python code, not a module plus flags);
``env_LD_LIBRARY_PATH = $LD_LIBRARY_PATH`` is added (the toolkit overwrites the
variable otherwise), ``env_GLIBC_TUNABLES`` (``malloc_env``: fewer page faults on CPU)
unless the entry sets it, ``env_VOTS_TRACKER_WEIGHTS`` points at ``--weights-dir``, and
``env_VOTS_TRACKER_NAME`` names the entry (the process keeps its gate decisions under
``<workspace>/logs/gate/<entry>/``).
"""

from __future__ import annotations

import ast
import configparser
import io
import logging
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .data_files import PACKAGE_ROOT, ROOT_TRACKERS_INI
from ..errors import UserError
from ..runtime.malloc_env import MALLOC_TUNABLES

logger = logging.getLogger(__name__)

#: Smoke entries added to a synthetic workspace: name -> (label, serve arguments).
SMOKE_TRACKERS: Dict[str, Tuple[str, List[str]]] = {
    "dmaot_smoke": ("DMAOT smoke (DeAOT-T, random init)", ["serve", "--preset", "dmaot_smoke"]),
    "hqsam_gate_smoke": (
        "DMAOT + HQ-SAM gate smoke (DeAOT-T + vit_tiny, random init)",
        ["serve", "--preset", "hqsam_gate_smoke"],
    ),
    # The other refinement options, set as trackers.ini flags over the preset.
    "hqsam_gate_smoke_cycle_redetect": (
        "DMAOT + HQ-SAM gate smoke with cycle prior and re-detection (random init)",
        ["serve", "--preset", "hqsam_gate_smoke", "--cycle", "--redetect"],
    ),
}
SMOKE_TIMEOUT = 300

#: Keys the workspace generator owns; any value in the root file is replaced.
_OWNED_KEYS = {"protocol", "command", "python", "paths"}


@dataclass
class TrackerEntry:
    """One ``trackers.ini`` section: the ``vots_tracker`` arguments plus pass-through keys."""

    name: str
    args: List[str]
    extra: Dict[str, str] = field(default_factory=dict)


def serve_command(args: Sequence[str]) -> str:
    """Python code (for ``traxpython``) equivalent to ``python -m vots_tracker <args>``."""
    argv = ", ".join(repr(a) for a in ["vots_tracker", *args])
    return (
        f"import runpy, sys; sys.argv = [{argv}]; "
        "runpy.run_module('vots_tracker', run_name='__main__', alter_sys=True)"
    )


def parse_command(command: str) -> Optional[List[str]]:
    """Recover the ``vots_tracker`` arguments from a trackers.ini ``command`` value.

    Accepted forms: ``[python -m] vots_tracker serve --preset X`` (also
    ``vots_tracker.cli``/``vots_tracker.__main__``), the runpy code written by
    :func:`serve_command`, and ``from vots_tracker.cli import main; main([...])``.
    Returns None when the command does not run vots_tracker.
    """
    command = command.strip()
    try:
        tree = ast.parse(command)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            # sys.argv = ['vots_tracker', ...]
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Tuple)):
                target = node.targets[0]
                if isinstance(target, ast.Attribute) and target.attr == "argv":
                    values = _literal_strings(node.value)
                    if values is not None:
                        return values[1:]
            # main([...])
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
                func = node.func
                fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if fname == "main":
                    values = _literal_strings(node.args[0])
                    if values is not None:
                        return values
    try:
        tokens = shlex.split(command)
    except ValueError:
        return None
    for i, token in enumerate(tokens):
        if token in ("vots_tracker", "vots_tracker.cli", "vots_tracker.__main__", "vots-tracker") or token.endswith(
            "/vots-tracker"
        ):
            return tokens[i + 1 :]
    return None


def _literal_strings(node: ast.AST) -> Optional[List[str]]:
    try:
        values = ast.literal_eval(node)
    except ValueError:
        return None
    if all(isinstance(v, str) for v in values):
        return list(values)
    return None


def read_root_trackers(path: Path = ROOT_TRACKERS_INI) -> List[TrackerEntry]:
    """Read the repository-root trackers.ini into entries."""
    if not path.is_file():
        raise UserError(f"{path} not found: the tracker entries come from the repository-root trackers.ini "
                        "(installed under <prefix>/share/vots-tracker by a non-editable install)")
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep key case (env_ names are upper-cased by the toolkit anyway)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise UserError(f"cannot parse {path}: {exc}") from exc
    entries = []
    for section in parser.sections():
        values = dict(parser[section])
        command = values.get("command", "")
        args = parse_command(command)
        if args is None:
            raise UserError(
                f"{path} [{section}]: command {command!r} does not run vots_tracker; "
                "expected e.g. 'vots_tracker serve --preset NAME'"
            )
        extra = {k: v for k, v in values.items() if k not in _OWNED_KEYS}
        entries.append(TrackerEntry(section, args, extra))
    if not entries:
        raise UserError(f"{path} defines no trackers")
    return entries


def smoke_entries() -> List[TrackerEntry]:
    return [
        TrackerEntry(name, list(args), {"label": label, "timeout": str(SMOKE_TIMEOUT)})
        for name, (label, args) in SMOKE_TRACKERS.items()
    ]


def render_trackers_ini(
    entries: Iterable[TrackerEntry],
    python: Optional[str] = None,
    package_root: Optional[Path] = None,
    weights_dir: Optional[Path] = None,
    header: str = "",
) -> str:
    """Render entries as a workspace trackers.ini with absolute interpreter/package paths."""
    python = python or sys.executable
    package_root = Path(package_root or PACKAGE_ROOT).resolve()
    out = io.StringIO()
    if header:
        for line in header.splitlines():
            out.write(f"# {line}\n".replace("# \n", "#\n"))
        out.write("\n")
    for entry in entries:
        extra = dict(entry.extra)
        out.write(f"[{entry.name}]\n")
        out.write(f"label = {extra.pop('label', entry.name)}\n")
        out.write("protocol = traxpython\n")
        out.write(f"python = {python}\n")
        out.write(f"paths = {package_root}\n")
        out.write(f"command = {serve_command(entry.args)}\n")
        lowered = {k.lower() for k in extra}
        if "env_ld_library_path" not in lowered:
            extra["env_LD_LIBRARY_PATH"] = "$LD_LIBRARY_PATH"
        if "env_glibc_tunables" not in lowered:  # glibc reads it only at process start
            extra["env_GLIBC_TUNABLES"] = MALLOC_TUNABLES
        # The process names its gate-decision folder (logs/gate/<entry>) after the entry it runs.
        for key in [k for k in extra if k.lower() == "env_vots_tracker_name"]:
            del extra[key]
        extra["env_VOTS_TRACKER_NAME"] = entry.name
        if weights_dir is not None:
            # An explicit weights folder wins over whatever the root file says.
            for key in [k for k in extra if k.lower() == "env_vots_tracker_weights"]:
                del extra[key]
            extra["env_VOTS_TRACKER_WEIGHTS"] = str(Path(weights_dir).resolve())
        for key, value in extra.items():
            if "%" in value:
                raise UserError(f"[{entry.name}] {key}: '%' is not allowed in trackers.ini values (configparser)")
            out.write(f"{key} = {value}\n")
        out.write("\n")
    return out.getvalue()

