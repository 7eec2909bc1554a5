"""Staged results: the toolkit writes a sequence's results outside ``results/``; they are checked, then published.

The toolkit writes a sequence's result files one after another, after the tracker finished
(per object: the trajectory, then its ``.value`` files). A process killed in the middle, or
a forced re-run over old results, could leave a mixture that still passes the completeness
check. So ``evaluate``'s tasks and the sweep point a tracker's result storage (the
toolkit's own per-tracker ``storage`` hook) at a fresh folder under
``<workspace>/.vots-staging/<owner>/``, check the staged results with
:func:`vots_tracker.evaluation.outputs.sequence_problems`, and only then move each
sequence folder into ``results/`` by directory renames. An interrupted run leaves every
published sequence as it was, or (in the instant between two renames) absent; what it
staged is never read by the completeness check and is removed by the next run.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator, List, Sequence

from . import outputs

STAGING_DIR = ".vots-staging"


class Stage:
    """One fresh staging folder; toolkit trackers redirected into it; publication into ``results/``."""

    def __init__(self, workspace: Path, root: Path):
        self.workspace = Path(workspace)
        self.root = root

    def redirect(self, tracker):
        """A copy of the toolkit Tracker whose results go into this stage (the toolkit's per-tracker storage)."""
        from vot.workspace.storage import LocalStorage

        staged = copy.copy(tracker)
        staged._storage = LocalStorage(str(self.root))
        return staged

    @staticmethod
    def problems(experiment, staged_tracker, sequences: Sequence) -> List[str]:
        """What the completeness check finds wrong with the staged results of these (transformed) sequences."""
        return [p for s in sequences for p in outputs.sequence_problems(experiment, staged_tracker, s)]

    def publish(self, tracker, experiment: str, names: Sequence[str]) -> None:
        """Move the staged sequence folders of ``tracker`` into ``results/`` (renames only)."""
        for name in names:
            staged = self.root / "results" / tracker.reference / experiment / name
            final = self.workspace / "results" / tracker.reference / experiment / name
            _replace_folder(staged, final, self.root / f"replaced-{tracker.reference}-{name}")


def _replace_folder(staged: Path, final: Path, parking: Path) -> None:
    """``final`` becomes ``staged``: the old folder is parked inside the stage first, never mixed with the new."""
    final.parent.mkdir(parents=True, exist_ok=True)
    replaced = None
    if final.exists():
        replaced = parking
        os.replace(final, replaced)
    os.replace(staged, final)
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)


@contextlib.contextmanager
def staging(workspace: os.PathLike, owner: str, label: str) -> Iterator[Stage]:
    """A fresh stage ``<workspace>/.vots-staging/<owner>/<label>-<random>``, removed at the end whatever happens."""
    root = Path(workspace) / STAGING_DIR / owner / f"{label}-{uuid.uuid4().hex}"
    try:
        yield Stage(Path(workspace), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def clear_staging(workspace: os.PathLike, owners: Sequence[str]) -> None:
    """Remove the staging folders of these owners (what killed runs left behind)."""
    for owner in owners:
        shutil.rmtree(Path(workspace) / STAGING_DIR / owner, ignore_errors=True)
    try:
        (Path(workspace) / STAGING_DIR).rmdir()  # only when nothing else stages there
    except OSError:
        pass
