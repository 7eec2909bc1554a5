"""Output staging: write under a temporary name next to the final place, move into place when complete.

Also the rules that keep outputs away from inputs: an output folder never is, contains
or lies inside an input folder, and ``--force`` replaces only what the command itself
writes (anything else in the way is named and the command refuses).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Iterator, List, Mapping, Optional, Union

from ..errors import UserError
from ..runtime.stop_signals import deferred


def temporary_name(final: Path, kind: str = "tmp") -> Path:
    """A hidden, unique sibling of ``final`` (same folder, so ``os.replace`` is atomic)."""
    return final.parent / f".{final.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def staged_file(final: Union[str, os.PathLike]) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; it replaces ``final`` only if the block succeeds.

    On any exception (KeyboardInterrupt and the stop signals included) the temporary
    file is removed and ``final`` is left as it was.
    """
    final = Path(final)
    tmp = temporary_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(final: Union[str, os.PathLike], text: str) -> Path:
    """Write a UTF-8 text file through :func:`staged_file`."""
    with staged_file(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


# --------------------------------------------------------------------------- inputs vs outputs


def _resolved(path: Union[str, os.PathLike]) -> Path:
    return Path(path).expanduser().resolve()


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def refuse_overlap(out: Union[str, os.PathLike], inputs: Mapping[str, Optional[Union[str, os.PathLike]]],
                   what: str = "OUT") -> None:
    """Refuse an output folder that is, contains or lies inside an input (whatever ``--force`` says).

    ``inputs`` maps a flag name to a path (None = not given). An input file (a video, a
    mask PNG) only conflicts when the output folder is it or contains it; an input folder
    also when the output lies inside it.
    """
    target = _resolved(out)
    for flag, given in inputs.items():
        if given is None:
            continue
        source = _resolved(given)
        if _contains(target, source):
            relation = "is" if source == target else "contains"
            raise UserError(f"{what} {out} {relation} the input {flag} {given}; choose an output outside the inputs")
        if source.is_dir() and _contains(source, target):
            raise UserError(f"{what} {out} lies inside the input {flag} {given}; choose an output outside the inputs")


def refuse_output_file(out: Union[str, os.PathLike], inputs: Mapping[str, Optional[Union[str, os.PathLike]]],
                       what: str) -> None:
    """Refuse an output file that is an input file or lies inside an input folder (whatever ``--force`` says)."""
    target = _resolved(out)
    for flag, given in inputs.items():
        if given is not None and _contains(_resolved(given), target):
            raise UserError(f"{what} {out} would overwrite the input {flag} {given}; choose another path")


def foreign_files(folder: Path, ours: Callable[[Path], bool]) -> List[str]:
    """Paths (relative, sorted) under ``folder`` that ``ours(relative path)`` does not claim.

    A sub-folder is descended into only when it is claimed itself; an unclaimed one is
    reported as a whole (``name/``).
    """
    found: List[str] = []

    def walk(current: Path) -> None:
        for entry in sorted(current.iterdir()):
            relative = entry.relative_to(folder)
            if not ours(relative):
                found.append(f"{relative}/" if entry.is_dir() and not entry.is_symlink() else str(relative))
            elif entry.is_dir() and not entry.is_symlink():
                walk(entry)

    walk(folder)
    return found


def refuse_foreign(folder: Path, ours: Callable[[Path], bool], what: str, limit: int = 5) -> None:
    """With ``--force``: refuse when ``folder`` holds anything the command does not write, naming it."""
    if not folder.is_dir():
        return
    found = foreign_files(folder, ours)
    if found:
        shown = ", ".join(found[:limit]) + (f" and {len(found) - limit} more" if len(found) > limit else "")
        raise UserError(
            f"{what} {folder} holds {len(found)} file(s) this command does not write ({shown}); "
            "--force replaces only its own output: move them away or choose another folder"
        )


class StagedDir:
    """Write a folder under a temporary name next to ``final``; move it into place on commit.

    On failure (any exception, KeyboardInterrupt and the stop signals included) the
    temporary folder is removed and ``final`` is left as it was. With ``force`` an existing
    ``final`` is replaced, but only if ``ours`` claims everything in it (see
    :func:`refuse_foreign`); without ``ours`` a non-empty ``final`` is always refused.
    """

    def __init__(self, final: Path, force: bool = False, what: str = "output folder",
                 ours: Optional[Callable[[Path], bool]] = None):
        self.final = Path(final)
        self.force = force
        self.what = what
        self.ours = ours
        self.tmp = temporary_name(self.final)

    def check(self) -> None:
        if self.final.exists():
            if not self.final.is_dir():
                raise UserError(f"{self.what} {self.final} exists and is not a folder")
            if any(self.final.iterdir()):
                if not self.force:
                    raise UserError(f"{self.what} {self.final} exists and is not empty (use --force to replace it)")
                refuse_foreign(self.final, self.ours or (lambda relative: False), self.what)

    def __enter__(self) -> Path:
        self.check()
        try:
            self.tmp.mkdir(parents=True)
        except OSError as exc:
            raise UserError(f"cannot create {self.what} next to {self.final}: {exc.strerror or exc}") from None
        return self.tmp

    def commit(self) -> None:
        self.check()  # again: something may have appeared in ``final`` while we worked
        with deferred():  # a stop signal now would strand the old output under a hidden name
            old = None
            if self.final.exists():
                old = temporary_name(self.final, "old")
                os.replace(self.final, old)
            os.replace(self.tmp, self.final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
