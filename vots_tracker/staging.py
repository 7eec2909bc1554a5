"""Output staging: write under a temporary name next to the final place, move into place when complete."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from .errors import UserError


class StagedDir:
    """Write a folder under a temporary name next to ``final``; move it into place on commit.

    On failure (any exception, KeyboardInterrupt included) the temporary folder is removed
    and ``final`` is left as it was.
    """

    def __init__(self, final: Path, force: bool = False, what: str = "output folder"):
        self.final = Path(final)
        self.force = force
        self.what = what
        self.tmp = self.final.parent / f".{self.final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def check(self) -> None:
        if self.final.exists():
            if not self.final.is_dir():
                raise UserError(f"{self.what} {self.final} exists and is not a folder")
            if any(self.final.iterdir()) and not self.force:
                raise UserError(f"{self.what} {self.final} exists and is not empty (use --force to replace it)")

    def __enter__(self) -> Path:
        self.check()
        try:
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            raise UserError(f"cannot create {self.what} next to {self.final}: {exc.strerror or exc}") from None
        return self.tmp

    def commit(self) -> None:
        old = None
        if self.final.exists():
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
