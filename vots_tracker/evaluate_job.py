"""The steps of ``vots-tracker evaluate`` around its Ray tasks (:mod:`.evaluate_tasks`).

Before: checkpoints and the workspace (:func:`prepare_evaluation`). Trackers of the
repository's trackers.ini get their official checkpoints downloaded and verified and the
workspace refreshed for them; trackers that only the workspace's trackers.ini defines
(the smoke entries of a synthetic workspace, test entries) use the workspace as it is.
After: ``vot analysis`` and ``vot pack`` for the trackers whose results are complete
(:func:`analyse_and_pack`). Lines for the user go to stdout as ``key: value``.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional

from . import toolkit
from . import workspace as wsmod
from .errors import UserError
from .trackers_ini import parse_command, read_root_trackers

logger = logging.getLogger(__name__)


def _out(line: str) -> None:
    print(line, flush=True)


def prepare_evaluation(ws: Path, trackers: List[str], weights_dir: Optional[os.PathLike]) -> List[Path]:
    """Checkpoints (downloaded and verified for repository trackers) and the workspace; returns the checkpoint paths."""
    from .components import required_checkpoints
    from .jobs import tracker_config
    from .weights.download import ensure_checkpoints
    from .weights.registry import default_weights_dir

    repository = {entry.name for entry in read_root_trackers()}
    local = [t for t in trackers if t not in repository]
    if local and len(local) < len(trackers):  # refreshing the workspace would drop the workspace-only entries
        raise UserError(f"evaluate trackers of trackers.ini or workspace-only ones ({', '.join(local)}), not both")
    if local:
        if not (ws / "config.yaml").is_file():
            raise UserError(f"unknown tracker {local[0]!r}: not in trackers.ini, and {ws} holds no workspace")
        checkpoints: List[Path] = []
        for tracker in local:
            checkpoints += entry_checkpoints(ws, tracker)
            _out(f"tracker: {tracker} (entry of {ws / 'trackers.ini'}; the workspace is used as it is)")
        return checkpoints
    configs = {tracker: tracker_config(tracker) for tracker in trackers}
    first = configs[trackers[0]]
    folder = Path(weights_dir or first.weights_dir or default_weights_dir()).expanduser().resolve()  # one for all
    checkpoints = []
    for tracker, config in configs.items():
        names = required_checkpoints(config)
        _out(f"tracker: {tracker} (checkpoints: {', '.join(names)}; weights: {folder})")
        for path in ensure_checkpoints(names, folder):
            _out(f"checkpoint: {path}")
            checkpoints.append(path)
    stack = None
    if (ws / "config.yaml").is_file():
        import yaml

        with open(ws / "config.yaml", "r", encoding="utf-8") as handle:
            stack = (yaml.safe_load(handle) or {}).get("stack")
    # (re)write config.yaml and trackers.ini; sequences and results are kept
    wsmod.init_workspace(ws, stack=stack, weights_dir=folder, force=True)
    return checkpoints


def analyse_and_pack(ws: Path, trackers: List[str], echo: bool) -> int:
    """``vot analysis`` (Q printed where the stack defines it) and ``vot pack`` per tracker; returns the failures."""
    from .jobs import pack

    if not trackers:
        return 0
    failures = 0
    stack = toolkit.load_workspace(ws).stack
    analyses = [a for experiment in stack for a in experiment.analyses]
    if not analyses:
        _out("analysis: the stack defines none (scoring happens on the challenge server)")
    else:
        name = "evaluate-" + datetime.now().strftime("%Y%m%d-%H%M%S")
        toolkit.clear_cache(ws)  # the analysis cache is keyed by names; results may be new
        try:
            toolkit.run_vot(["analysis", "--workspace", str(ws), "--format", "json", "--name", name, *trackers],
                            ws, "analysis", echo=echo)
            path = toolkit.analysis_json(ws, name)
            _out(f"analysis: {path}")
            if any(type(a).__name__ == "AverageAccuracy" for a in analyses):
                for tracker in trackers:
                    _out(f"Q {tracker}: {toolkit.read_quality(path, tracker):.4f}")
        except UserError as exc:
            failures += 1
            logger.error("vot analysis: %s", exc)
            _out("analysis: FAILED")
    for tracker in trackers:
        try:
            _out(f"pack {tracker}: {pack(ws, tracker, echo=echo)}")
        except UserError as exc:
            failures += 1
            logger.error("vot pack %s: %s", tracker, exc)
            _out(f"pack {tracker}: FAILED")
    return failures


def workspace_entries(workspace: Path) -> Dict[str, Dict[str, str]]:
    """The sections of a workspace's trackers.ini (any protocol), by name."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # env_ keys keep their case
    try:
        parser.read(Path(workspace) / "trackers.ini", encoding="utf-8")
    except configparser.Error as exc:
        raise UserError(f"cannot parse {Path(workspace) / 'trackers.ini'}: {exc}") from exc
    return {name: dict(parser[name]) for name in parser.sections()}


def entry_checkpoints(workspace: Path, tracker: str) -> List[Path]:
    """Checkpoint files a workspace trackers.ini entry loads (none known when it does not run ``vots_tracker serve``)."""
    from .components import required_checkpoints
    from .config import add_tracker_arguments, config_from_args
    from .weights import registry

    entry = workspace_entries(workspace).get(tracker)
    if entry is None:
        raise UserError(f"tracker {tracker!r} is neither in trackers.ini nor in {Path(workspace) / 'trackers.ini'}")
    args = parse_command(entry.get("command", "")) or []
    if args[:1] != ["serve"]:
        return []
    parser = argparse.ArgumentParser(prog=f"[{tracker}]", add_help=False)
    add_tracker_arguments(parser)
    try:
        config = config_from_args(parser.parse_args(args[1:]))
    except SystemExit:  # argparse printed what is wrong
        raise UserError(f"{Path(workspace) / 'trackers.ini'} [{tracker}]: invalid serve arguments {args[1:]}") from None
    env_weights = next((v for k, v in entry.items() if k.upper() == "ENV_VOTS_TRACKER_WEIGHTS"), None)
    folder = Path(config.weights_dir or env_weights or registry.default_weights_dir()).expanduser()
    return [registry.resolve_checkpoint(name, folder) for name in required_checkpoints(config)]
