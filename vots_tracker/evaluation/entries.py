"""trackers.ini entries as tracker configurations: the repository's entries and a workspace's.

An entry runs ``vots_tracker serve`` with a preset and flags; :func:`serve_config` turns
those arguments into the :class:`~vots_tracker.config.TrackerConfig` the server would run,
so the evaluate job and the sweep know which checkpoints an entry loads before any task runs.
"""

from __future__ import annotations

import argparse
import configparser
from pathlib import Path
from typing import Dict, List, Sequence

from ..errors import UserError
from ..workspace.data_files import ROOT_TRACKERS_INI
from ..workspace.trackers_ini import parse_command, read_root_trackers


def tracker_config(tracker: str, root_trackers: Path = ROOT_TRACKERS_INI):
    """The TrackerConfig a trackers.ini entry runs (its preset plus the flags on its command)."""
    entries = {e.name: e for e in read_root_trackers(root_trackers)}
    if tracker not in entries:
        raise UserError(f"unknown tracker {tracker!r}; trackers.ini defines: {', '.join(entries)}")
    return serve_config(tracker, entries[tracker].args)


def serve_config(tracker: str, args: Sequence[str], source: str = "trackers.ini"):
    """The TrackerConfig of a trackers.ini entry's ``vots_tracker`` arguments (``serve`` and its flags)."""
    from ..config import add_tracker_arguments, config_from_args

    args = list(args)
    if not args or args[0] != "serve":
        raise UserError(f"{source} [{tracker}] does not run `vots_tracker serve` (args: {args})")
    parser = argparse.ArgumentParser(prog=f"{source} [{tracker}]", add_help=False)
    add_tracker_arguments(parser)
    try:
        namespace = parser.parse_args(args[1:])
    except SystemExit:  # argparse already printed what is wrong
        raise UserError(f"{source} [{tracker}]: invalid serve arguments {' '.join(args[1:])}") from None
    return config_from_args(namespace)


def workspace_entries(workspace: Path) -> Dict[str, Dict[str, str]]:
    """The sections of a workspace's trackers.ini (any protocol), by name."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # env_ keys keep their case
    try:
        parser.read(Path(workspace) / "trackers.ini", encoding="utf-8")
    except configparser.Error as exc:
        raise UserError(f"cannot parse {Path(workspace) / 'trackers.ini'}: {exc}") from exc
    return {name: dict(parser[name]) for name in parser.sections()}


def entry_checkpoints(workspace: Path, tracker: str) -> List[Path]:
    """Checkpoint files a workspace trackers.ini entry loads (none known when it does not run ``vots_tracker serve``)."""
    from ..components import required_checkpoints
    from ..weights import registry

    entry = workspace_entries(workspace).get(tracker)
    if entry is None:
        raise UserError(f"tracker {tracker!r} is neither in trackers.ini nor in {Path(workspace) / 'trackers.ini'}")
    args = parse_command(entry.get("command", "")) or []
    if args[:1] != ["serve"]:
        return []
    config = serve_config(tracker, args, source=str(Path(workspace) / "trackers.ini"))
    env_weights = next((v for k, v in entry.items() if k.upper() == "ENV_VOTS_TRACKER_WEIGHTS"), None)
    folder = Path(config.weights_dir or env_weights or registry.default_weights_dir()).expanduser()
    return [registry.resolve_checkpoint(name, folder) for name in required_checkpoints(config)]
