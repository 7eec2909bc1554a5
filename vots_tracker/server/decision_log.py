"""Gate decisions kept on disk: one JSON-lines file per sequence, written as the tracker goes.

The first line is a header (what ran: tracker, sequence, tau, gate, proposals); then one
line per frame, objects in arrival order, column by column::

    {"frame":4,"ids":[1,2],"given":[false,false],"present":[true,false],
     "proposal":["hq",null],"iou":[0.8123,null],"accepted":[true,false],
     "redetected":[false,false],"fault":null,"area":[311,0],"crc":["5c1f09aa","00000000"]}

``present``: DMAOT's mask is non-empty (the gate saw the object); ``given``: the object's
mask arrived with this frame (no decision); ``proposal``/``iou``: the best proposal and its
IoU with DMAOT's mask (null when not gated); ``fault``: null, ``"failed"`` (refinement
raised on this frame, DMAOT's masks kept) or ``"off"`` (turned off after repeated faults);
``area``/``crc``: pixel count and CRC-32 of the final mask as replied (CRC of
``np.packbits`` over the full frame), so a reader can check the file against the results.

Every line is flushed as written: a killed process leaves a file that parses up to its last
complete line. ``serve``, ``track`` and the sweep's shared pass build the lines with the same
function (:func:`frame_record`). In a toolkit workspace the file is
``<workspace>/logs/gate/<tracker>/<sequence>.jsonl`` (next to the toolkit's own logs, outside
``results/``); the process learns ``<tracker>`` from ``VOTS_TRACKER_NAME`` (set by each
workspace trackers.ini entry) and the workspace and sequence from its first frame's path.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

logger = logging.getLogger(__name__)

FORMAT = "vots-tracker gate decisions"
VERSION = 1
ENV_TRACKER_NAME = "VOTS_TRACKER_NAME"
LOG_FOLDER = ("logs", "gate")  # under the workspace
SUFFIX = ".jsonl"
IOU_DIGITS = 6  # enough to tell an IoU from tau; the accepted flag is stored anyway
COLUMNS = ("ids", "given", "present", "proposal", "iou", "accepted", "redetected", "area", "crc")


def mask_digest(mask: np.ndarray) -> str:
    """CRC-32 (8 hex digits) of a boolean mask's packed bits over the full frame."""
    return f"{zlib.crc32(np.packbits(np.asarray(mask, dtype=bool))) & 0xFFFFFFFF:08x}"


def frame_record(frame: int, object_ids: Sequence[int], final: Mapping[int, np.ndarray],
                 reports: Mapping[int, object], present: Sequence[int] = (), given: Sequence[int] = (),
                 fault: Optional[str] = None) -> Dict[str, object]:
    """One frame's line: every object seen so far, in arrival order (pure).

    ``reports``: the refinement's per-object reports (``accepted``, ``iou``, ``proposal``,
    ``redetected``); ``present``: ids whose DMAOT mask was non-empty; ``given``: ids that
    arrived on this frame.
    """
    record: Dict[str, object] = {"frame": int(frame)}
    columns: Dict[str, list] = {name: [] for name in COLUMNS}
    present, given = set(present), set(given)
    for object_id in object_ids:
        report = reports.get(object_id)
        gated = object_id in present and report is not None and report.proposal is not None
        mask = final[object_id]
        columns["ids"].append(int(object_id))
        columns["given"].append(object_id in given)
        columns["present"].append(object_id in present)
        columns["proposal"].append(report.proposal if report is not None else None)
        columns["iou"].append(round(float(report.iou), IOU_DIGITS) if gated else None)
        columns["accepted"].append(bool(report.accepted) if report is not None else False)
        columns["redetected"].append(bool(getattr(report, "redetected", False)) if report is not None else False)
        columns["area"].append(int(np.count_nonzero(mask)))
        columns["crc"].append(mask_digest(mask))
    record.update(columns)
    record["fault"] = fault
    return record


def header(tracker: Optional[str], sequence: str, tau: float, gate: str, proposals: str) -> Dict[str, object]:
    return {"format": FORMAT, "version": VERSION, "tracker": tracker, "sequence": sequence,
            "tau": float(tau), "gate": gate, "proposals": str(proposals)}


class DecisionLog:
    """An open decision file: a header, then one flushed line per frame.

    Keeping decisions must never cost a sequence: a file that cannot be opened or written
    is reported once (WARNING) and the log goes quiet.
    """

    def __init__(self, path: Path, head: Mapping[str, object]):
        self.path = Path(path)
        self.frames = 0
        self._file = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")
        except OSError as error:
            logger.warning("gate decisions not kept: cannot write %s (%s)", self.path, error)
            return
        self._line(head)
        logger.info("gate decisions: %s", self.path)

    def write(self, record: Mapping[str, object]) -> None:
        if self._file is not None:
            self._line(record)
            self.frames += 1

    def _line(self, data: Mapping[str, object]) -> None:
        try:
            self._file.write(json.dumps(data, separators=(",", ":")) + "\n")
            self._file.flush()  # into the OS: a killed process loses nothing written before
        except (OSError, ValueError) as error:
            logger.warning("gate decisions: writing %s failed (%s); no more decisions kept", self.path, error)
            self.close()

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None


# --------------------------------------------------------------------------------------
# where the file goes
# --------------------------------------------------------------------------------------


def decision_file(workspace: Path, tracker: str, sequence: str) -> Path:
    """``<workspace>/logs/gate/<tracker>/<sequence>.jsonl``."""
    return Path(workspace).joinpath(*LOG_FOLDER, tracker, sequence + SUFFIX)


def sequence_of_frame(frame_path: str, levels: int = 4) -> Optional[Path]:
    """The VOT sequence folder holding a frame: the nearest ancestor with a ``sequence`` file.

    Lexical (symlinks are not resolved), so a workspace reached through a link stays that path.
    """
    folder = Path(os.path.abspath(frame_path)).parent
    for _ in range(levels):
        if (folder / "sequence").is_file():
            return folder
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def workspace_decision_file(frame_path: str, environ: Optional[Mapping[str, str]] = None) -> Optional[Path]:
    """Where a ``serve`` process keeps a sequence's decisions, or None (the INFO line says why).

    The tracker is ``$VOTS_TRACKER_NAME``; the workspace is the folder above ``sequences/``
    holding the sequence of the first frame, when it has a ``config.yaml``.
    """
    environ = os.environ if environ is None else environ
    tracker = environ.get(ENV_TRACKER_NAME, "").strip()
    if not tracker:
        logger.info("gate decisions not kept: %s is not set (workspace trackers.ini entries written by "
                    "`vots-tracker workspace init` set it)", ENV_TRACKER_NAME)
        return None
    if os.sep in tracker or tracker in (".", ".."):
        logger.warning("gate decisions not kept: %s=%r is not a tracker name", ENV_TRACKER_NAME, tracker)
        return None
    sequence = sequence_of_frame(frame_path)
    workspace = sequence.parent.parent if sequence is not None else None
    if workspace is None or not (workspace / "config.yaml").is_file():
        logger.info("gate decisions not kept: frame %s is not in a toolkit workspace's sequences folder", frame_path)
        return None
    return decision_file(workspace, tracker, sequence.name)


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------


@dataclass
class Decisions:
    """A decision file as read: its header and frame records (by frame index)."""

    path: Path
    header: Dict[str, object]
    frames: Dict[int, Dict[str, object]] = field(default_factory=dict)
    torn: Optional[str] = None  # what was left out at the end (a line cut short), if anything

    def object_ids(self) -> List[int]:
        ids: List[int] = []
        for record in self.frames.values():
            ids.extend(i for i in record["ids"] if i not in ids)
        return ids

    def column(self, object_id: int, name: str) -> Dict[int, object]:
        """frame -> that object's value in column ``name`` (frames on which the object is listed)."""
        out = {}
        for index, record in sorted(self.frames.items()):
            if object_id in record["ids"]:
                out[index] = record[name][record["ids"].index(object_id)]
        return out


class DecisionFileError(ValueError):
    pass


def read_decisions(path: Path) -> Decisions:
    """Parse a decision file up to its last complete line.

    A last line without its newline, or one that is not JSON (a write cut short by a kill),
    is left out and described in ``torn``; anything wrong before that raises
    :class:`DecisionFileError` naming the line.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: empty for a complete file
    torn = f"{len(tail)} byte(s) of an unfinished line" if tail else None
    if not lines:
        raise DecisionFileError(f"{path}: no complete line (not even the header)")
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(json.loads(line))
        except ValueError as error:
            if number == len(lines) and torn is None:  # the last line itself may be the torn one
                torn = f"line {number} is not JSON ({error})"
                break
            raise DecisionFileError(f"{path}:{number}: not JSON ({error})") from None
    head = parsed[0] if parsed else None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise DecisionFileError(f"{path}: not a gate decision file (its first line is no {FORMAT!r} header)")
    decisions = Decisions(path, head, torn=torn)
    for number, record in enumerate(parsed[1:], 2):
        if not isinstance(record, dict) or "frame" not in record or any(c not in record for c in COLUMNS):
            raise DecisionFileError(f"{path}:{number}: not a frame record")
        decisions.frames[int(record["frame"])] = record
    return decisions
