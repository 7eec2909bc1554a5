"""``vots-tracker evaluate``, the main job: checkpoints, workspace, sequences as Ray tasks, completeness, analysis, pack.

Before the tasks: checkpoints and the workspace (:func:`prepare_evaluation`). Trackers of the
repository's trackers.ini get their official checkpoints downloaded and verified and the
workspace refreshed for them; trackers that only the workspace's trackers.ini defines (the
smoke entries of a synthetic workspace, test entries) use the workspace as it is. The tasks
themselves are :mod:`.tasks`. After them: ``vot analysis`` and ``vot pack`` for the trackers
whose results are complete (:func:`analyse_and_pack`). Lines for the user go to stdout as
``key: value``; the exit code is non-zero if anything failed (the toolkit itself exits 0).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import List, Optional, Sequence

from ..errors import UserError
from ..workspace import folder as wsmod
from ..workspace.trackers_ini import read_root_trackers
from . import outputs, toolkit
from .distributed import DEFAULT_RETRIES
from .entries import entry_checkpoints, tracker_config

logger = logging.getLogger(__name__)

DEFAULT_WORKSPACE = "workspace"
DEFAULT_TRACKER = "hqsam_gate"


def _out(line: str) -> None:
    print(line, flush=True)


def run_evaluate(
    workspace: os.PathLike = DEFAULT_WORKSPACE,
    trackers: Sequence[str] = (DEFAULT_TRACKER,),
    weights_dir: Optional[os.PathLike] = None,
    force: bool = False,
    echo: bool = True,
    workers: Optional[int] = None,
    ray_address: Optional[str] = None,
    gpus_per_task: Optional[float] = None,
    cpus_per_task: Optional[float] = None,
    retries: Optional[int] = None,
    memory=None,
) -> int:
    """Checkpoints, workspace, every sequence as a Ray task (:mod:`.tasks`), completeness, analysis, pack.

    Trackers of the repository's trackers.ini get their official checkpoints downloaded and
    verified and the workspace refreshed for them (today's challenge run). Trackers that only
    the workspace's trackers.ini defines (e.g. the smoke entries of a synthetic workspace)
    use the workspace as it is. Returns 1 if any sequence failed or any result is missing.
    """
    from . import tasks as evaluate_tasks  # Ray: only when evaluating

    ws = Path(workspace).expanduser().resolve()
    trackers = list(dict.fromkeys([trackers] if isinstance(trackers, str) else trackers))
    checkpoints = prepare_evaluation(ws, trackers, weights_dir)
    _out(f"workspace: {ws}")
    wsmod.download_sequences(ws)
    toolkit.set_numba_cache(ws)

    summary, complete = evaluate_tasks.evaluate(
        ws, trackers, force=force, address=ray_address, workers=workers, cpus_per_task=cpus_per_task,
        gpus_per_task=gpus_per_task, retries=DEFAULT_RETRIES if retries is None else retries,
        required_paths=checkpoints, memory=memory,
    )
    _out(f"sequences: {complete} already complete, {len(summary.outcomes)} run")
    for line in summary.lines():
        _out(line)
    finished = []
    for tracker in trackers:
        problems = outputs.check_results(ws, tracker)
        for problem in problems[:50]:
            _out(f"missing: {problem}")
        if len(problems) > 50:
            _out(f"missing: ... and {len(problems) - 50} more")
        if problems:
            _out(f"evaluate {tracker}: INCOMPLETE ({len(problems)} problem(s)); rerun to compute only what is missing")
        else:
            _out(f"evaluate {tracker}: ok, results complete")
            finished.append(tracker)
    failures = analyse_and_pack(ws, finished, echo) + len(trackers) - len(finished)
    if failures or summary.failed:
        _out(f"evaluate: FAILED; tracker logs under {ws / 'logs'}, task logs under {ws / evaluate_tasks.TASK_LOG_DIR}")
        return 1
    return 0


def prepare_evaluation(ws: Path, trackers: List[str], weights_dir: Optional[os.PathLike]) -> List[Path]:
    """Checkpoints (downloaded and verified for repository trackers) and the workspace; returns the checkpoint paths."""
    from ..components import required_checkpoints
    from ..weights.download import ensure_checkpoints
    from ..weights.registry import default_weights_dir

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
            path = outputs.analysis_json(ws, name)
            _out(f"analysis: {path}")
            for experiment in stack:  # Q per experiment that defines it ("Q T:" for baseline, else "Q T (E):")
                if any(type(a).__name__ == "AverageAccuracy" for a in experiment.analyses):
                    where = "" if experiment.identifier == "baseline" else f" ({experiment.identifier})"
                    for tracker in trackers:
                        quality = outputs.read_quality(path, tracker, experiment.identifier)
                        _out(f"Q {tracker}{where}: {quality:.4f}")
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


def pack(ws: Path, tracker: str, offline: bool = False, echo: bool = False) -> Path:
    """``vot pack`` and return the archive it wrote (ToolkitError if none)."""
    since = time.time()
    run = toolkit.run_vot(["pack", "--workspace", str(ws), tracker], ws, f"pack-{tracker}", offline=offline, echo=echo)
    archive = outputs.newest_pack(ws, tracker, since)
    if archive is None:
        raise toolkit.ToolkitError(f"vot pack wrote no {tracker}_*.zip into {ws} ({toolkit.log_summary(run.log)}); log: {run.log}")
    return archive
