"""RANDOM (untrained) checkpoints in the official formats under the official names, for tests only.

Each registry entry names the function of its model family that writes such a file
(``CheckpointEntry.writer``); the files written are listed in the folder's
``RANDOM_WEIGHTS.json``, so loading them logs a RANDOM-weights warning.
"""

from __future__ import annotations

import datetime
import logging
from importlib import import_module
from pathlib import Path
from typing import List, Optional, Sequence, Union

from ..errors import UserError
from . import registry
from .registry import ENTRIES, RANDOM_MANIFEST, CheckpointEntry

logger = logging.getLogger(__name__)


def _write_random(entry: CheckpointEntry, path: Path, seed: int) -> None:
    module, function = entry.writer.split(":")
    getattr(import_module(module), function)(entry.model, str(path), seed=seed)


def init_random(directory: Path, entries: Optional[Sequence[Union[str, CheckpointEntry]]] = None, *, seed: int = 0,
                force: bool = False) -> List[Path]:
    """Write RANDOM checkpoints under the official names and record them in RANDOM_WEIGHTS.json.

    ``entries``: registry entries, or file names / DMAOT model names / HQ-SAM sizes (default: all files).
    Refuses, before writing anything, to overwrite a file not listed as random unless ``force``.
    """
    if entries is None:
        entries = list(ENTRIES)
    entries = [e if isinstance(e, CheckpointEntry) else registry.REGISTRY[registry.names_for(e)] for e in entries]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = registry.read_random_manifest(directory)
    for entry in entries:
        path = directory / entry.filename
        if path.exists() and entry.filename not in manifest and not force:
            raise UserError(
                f"{path} exists and is not a random checkpoint (not in {RANDOM_MANIFEST}); "
                f"refusing to overwrite it with RANDOM weights (use --force)"
            )
    written: List[Path] = []
    for entry in entries:
        path = directory / entry.filename
        logger.warning("writing RANDOM weights for %s (%s) to %s", entry.model, entry.kind, path)
        _write_random(entry, path, seed)  # the writers replace the file only when it is complete
        stale = path.with_name(path.name + registry.VERIFIED_SUFFIX)
        if stale.exists():
            stale.unlink()
        manifest[entry.filename] = {
            "kind": entry.kind,
            "model": entry.model,
            "seed": seed,
            "size": path.stat().st_size,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        registry.write_random_manifest(directory, manifest)
        written.append(path)
    return written
