"""sha256 pins for files whose authors publish no hash (``CheckpointEntry.pin_sha256``: SAM 2.1).

The first verified copy of such a file (a download, or the first check of a file placed by hand)
records its sha256 in ``<file>.sha256`` next to it; every later check, and every later download,
must give the same sha256 or is refused. Unlike the ``.verified`` cache, a pin is never replaced:
to accept a different file on purpose, delete the pin.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Optional, Union

from ..media.staging import write_text_atomic

PIN_SUFFIX = ".sha256"


def pin_path(path: Union[str, Path]) -> Path:
    path = Path(path)
    return path.with_name(path.name + PIN_SUFFIX)


def read_pin(path: Union[str, Path]) -> Optional[str]:
    """The sha256 pinned for the file at `path`, or None when none is recorded (or it is unreadable)."""
    try:
        with open(pin_path(path), "r", encoding="utf-8") as handle:
            sha = json.load(handle).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return sha if isinstance(sha, str) else None


def write_pin(path: Union[str, Path], sha: str, source: str) -> Path:
    """Record `sha` as the file's pin (`source`: how it was first seen, e.g. 'download')."""
    record = {"sha256": sha, "source": source,
              "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "note": "no published hash: the sha256 of the first copy seen; a different file is refused"}
    return write_text_atomic(pin_path(path), json.dumps(record, indent=1) + "\n")


def mismatch(path: Union[str, Path], sha: str) -> Optional[str]:
    """A one-line reason when `sha` differs from the file's pin, else None."""
    pinned = read_pin(path)
    if pinned is None or pinned == sha:
        return None
    return (f"{Path(path).name} has sha256 {sha}, but the first copy recorded had {pinned} (in "
            f"{pin_path(path)}; its authors publish no hash): refusing a different file; delete the pin "
            f"to accept it on purpose")
