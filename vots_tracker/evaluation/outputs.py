"""What the toolkit wrote, checked from its outputs: result completeness, ``vot analysis`` JSON, ``vot pack`` archives.

The toolkit exits 0 when a tracker crashes or results are missing, so:

* :func:`check_results` lists every sequence/object whose result trajectory is
  missing, unreadable or of the wrong length (per the stack's experiments);
* :func:`read_quality` reads Q (``average_accuracy``) from ``vot analysis`` JSON;
* :func:`newest_pack` finds the archive ``vot pack`` wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Sequence

from ..errors import UserError
from .toolkit import ToolkitError, load_workspace


def check_results(workspace, tracker: str) -> List[str]:
    """Human-readable problems with a tracker's results in a workspace (empty list: complete).

    For every experiment of the stack, every (transformed) sequence, every object and
    every repetition: a result trajectory must exist, be readable and have one entry
    per frame. (The toolkit marks frame 1 as initialisation for every object, also
    for objects that appear later, so that frame says nothing about arrival.)
    ``workspace`` is a path or an already loaded toolkit Workspace.
    """
    ws = load_workspace(workspace) if isinstance(workspace, (str, os.PathLike)) else workspace
    trk = resolve_tracker(ws, tracker)
    if len(ws.dataset) == 0:
        return [f"{ws.directory}: the workspace has no sequences"]
    problems: List[str] = []
    for experiment in ws.stack:
        for sequence in experiment.transform(ws.dataset):
            problems.extend(sequence_problems(experiment, trk, sequence))
    return problems


def resolve_tracker(ws, tracker: str):
    """The toolkit Tracker ``tracker`` of a loaded workspace, resolved as ``vot evaluate`` does (UserError if unknown)."""
    try:
        return ws.registry.resolve(tracker, storage=ws.storage.substorage("results"), skip_unknown=False)[0]
    except Exception as exc:
        raise UserError(
            f"tracker {tracker!r} is not in the workspace registry ({', '.join(ws.registry.identifiers())}): {exc}"
        ) from exc


def sequence_problems(experiment, trk, sequence) -> List[str]:
    """:func:`check_results` for one (experiment-transformed) sequence: empty when its results are complete."""
    from vot.tracker import Trajectory

    where = f"{trk.reference}/{experiment.identifier}/{sequence.name}"
    try:
        complete, _files, results = experiment.scan(trk, sequence)
    except Exception as exc:  # corrupt folder etc.
        return [f"{where}: cannot scan results ({type(exc).__name__}: {exc})"]
    problems: List[str] = []
    repetitions = int(getattr(experiment, "repetitions", 1) or 1)
    objects = list(sequence.objects())
    multiobject = len(objects) > 1
    for oid in objects:
        prefix = f"{sequence.name}_{oid}" if multiobject else sequence.name
        for rep in range(1, repetitions + 1):
            name = f"{prefix}_{rep:03d}"
            label = f"{where}: object {oid}" + (f" repetition {rep}" if repetitions > 1 else "")
            if not Trajectory.exists(results, name):
                if rep > 1 and _can_stop(experiment, trk, sequence):
                    break  # deterministic tracker: the toolkit stops after 3 identical runs
                problems.append(f"{label}: no result file ({name}.bin/.txt)")
                continue
            try:
                trajectory = Trajectory.read(results, name)
            except Exception as exc:
                problems.append(f"{label}: unreadable result {name} ({type(exc).__name__}: {exc})")
                continue
            if len(trajectory) != len(sequence):
                problems.append(f"{label}: result {name} has {len(trajectory)} frames, the sequence has {len(sequence)}")
    if complete is False and not problems:
        problems.append(f"{where}: the toolkit reports the results as incomplete")
    return problems


def _can_stop(experiment, tracker, sequence) -> bool:
    try:
        return bool(experiment._can_stop(tracker, sequence))
    except Exception:
        return False


# --------------------------------------------------------------------------------------
# analysis output
# --------------------------------------------------------------------------------------


def newest(paths: Sequence[Path]) -> Optional[Path]:
    paths = [p for p in paths if p.exists()]
    return max(paths, key=lambda p: p.stat().st_mtime) if paths else None


def analysis_json(workspace: os.PathLike, name: Optional[str] = None) -> Path:
    """The JSON written by ``vot analysis [--name NAME]`` (the newest one without a name)."""
    folder = Path(workspace) / "analysis"
    if name:
        candidates = [folder / f"{name}.json", folder / name / "results.json"]
        found = [p for p in candidates if p.is_file()]
        if not found:
            found = sorted(folder.glob(f"{name}*.json"))
        if not found:
            raise ToolkitError(f"vot analysis wrote no {folder}/{name}.json")
        return found[0]
    found = newest(list(folder.glob("*.json")) + list(folder.glob("*/*.json")))
    if found is None:
        raise ToolkitError(f"vot analysis wrote no JSON under {folder}")
    return found


def read_quality(path: os.PathLike, tracker: str, experiment: str = "baseline", analysis: str = "Quality") -> float:
    """Q (``average_accuracy``) of ``tracker`` from a ``vot analysis --format json`` file.

    Layout (vot-toolkit 0.9.0 ``generate_serialized``): ``results[experiment]`` holds
    ``parameters.analyses`` (name/type per analysis) and ``results``, a list aligned with
    the analyses, each a list over ``trackers`` (document order) of value lists.
    The analysis is found by ``name`` or, failing that, by type ``AverageAccuracy``.
    """
    with open(path, "r", encoding="utf-8") as handle:
        data = json.load(handle)
    trackers = list(data.get("trackers", {}))
    if tracker not in trackers:
        raise ToolkitError(f"{path}: tracker {tracker!r} was not analysed (trackers: {', '.join(trackers) or 'none'})")
    exp = data.get("results", {}).get(experiment)
    if exp is None:
        raise ToolkitError(f"{path}: no experiment {experiment!r} (has: {', '.join(data.get('results', {}))})")
    analyses = exp.get("parameters", {}).get("analyses", [])
    index = next((i for i, a in enumerate(analyses) if a.get("name") == analysis), None)
    if index is None:
        index = next((i for i, a in enumerate(analyses) if str(a.get("type", "")).endswith(".AverageAccuracy")), None)
    if index is None:
        names = ", ".join(str(a.get("name")) for a in analyses)
        raise ToolkitError(f"{path}: experiment {experiment!r} has no analysis {analysis!r} (has: {names})")
    try:
        value = _first_number(exp["results"][index][trackers.index(tracker)])
    except (IndexError, KeyError, TypeError):
        value = None
    if value is None:
        raise ToolkitError(f"{path}: no {analysis} value for tracker {tracker!r} (missing results?)")
    return float(value)


def _first_number(node):
    if isinstance(node, bool):
        return None
    if isinstance(node, (int, float)):
        return node
    if isinstance(node, (list, tuple)):
        for item in node:
            found = _first_number(item)
            if found is not None:
                return found
    return None


def newest_pack(workspace: os.PathLike, tracker: str, since: float = 0.0) -> Optional[Path]:
    """The newest ``<tracker>_<timestamp>.zip`` that ``vot pack`` wrote into the workspace after ``since``."""
    candidates = [p for p in Path(workspace).glob(f"{tracker}_*.zip") if p.stat().st_mtime >= since - 1]
    return newest(candidates)
