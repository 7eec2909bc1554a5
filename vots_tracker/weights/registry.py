"""Registry of the official checkpoints the tracker uses, and checkpoint resolution.

Every entry names one file exactly as its authors publish it, where to get it,
which model it holds and, where published, its size and sha256. Loaders never
take a bare file name: they call :func:`resolve_checkpoint`, which finds the file
in the weights folder, verifies it once (the result is cached in a sidecar
``<file>.verified``) and warns loudly when the file holds RANDOM weights written
by ``vots-tracker weights init-random``.

The entries come from the model tables, where each model family lists its official
files and their sources: ``dmaot.specs`` (DMAOT / DeAOT / AOT) and ``refine.sam_specs``
(HQ-SAM). Adding a family means adding its table to ``FAMILY_FILES`` below.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union

from ..checkpoint_files import CheckpointEntry
from ..config import ConfigError
from ..dmaot import specs as dmaot_specs
from ..errors import UserError
from ..media.staging import write_text_atomic
from ..refine import sam_specs
from . import pins

logger = logging.getLogger(__name__)

ENV_WEIGHTS_DIR = "VOTS_TRACKER_WEIGHTS"
RANDOM_MANIFEST = "RANDOM_WEIGHTS.json"
VERIFIED_SUFFIX = ".verified"
PART_SUFFIX = ".part"


# --------------------------------------------------------------------------- errors


class CheckpointError(UserError):
    """A checkpoint problem the user can fix (message is one line naming file and fix)."""


class UnknownCheckpointError(CheckpointError, ConfigError):
    """An unknown model name, HQ-SAM size or checkpoint name."""


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """A checkpoint file is not where it should be."""

    def __init__(self, message: str, filename: str = "", url: str = "", path: str = ""):
        super().__init__(message)
        self.filename = filename
        self.url = url
        self.path = path

    def __str__(self) -> str:  # FileNotFoundError would otherwise format errno/filename
        return self.args[0] if self.args else ""


class CheckpointVerificationError(CheckpointError):
    """A checkpoint file exists but its size or sha256 is wrong."""


# --------------------------------------------------------------------------- entries

# Each model family's official files, from its model table (order: `weights list`).
FAMILY_FILES: Tuple[Tuple[CheckpointEntry, ...], ...] = (sam_specs.CHECKPOINT_FILES, dmaot_specs.CHECKPOINT_FILES)
ENTRIES: Tuple[CheckpointEntry, ...] = tuple(entry for family in FAMILY_FILES for entry in family)
REGISTRY: Dict[str, CheckpointEntry] = {e.filename: e for e in ENTRIES}
VOTS_DMAOT_FILE = dmaot_specs.VOTS_DMAOT_FILE.filename


def get_entry(name: str) -> CheckpointEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownCheckpointError(
            f"unknown checkpoint {name!r}; known files: {', '.join(REGISTRY)}"
        ) from None


def default_dmaot_checkpoint(model_name: str) -> str:
    """Official checkpoint file of a DMAOT/DeAOT/AOT model name (DM variants share the plain model's file)."""
    try:
        return dmaot_specs.get_spec(str(model_name)).checkpoint.filename
    except ValueError as error:
        raise UnknownCheckpointError(f"no official checkpoint: {error} (or pass a checkpoint path)") from None


def default_sam_checkpoint(size: str) -> str:
    if size not in sam_specs.DEFAULT_CHECKPOINTS:
        raise UnknownCheckpointError(f"unknown HQ-SAM size {size!r}; expected one of {', '.join(sam_specs.SIZES)}")
    return sam_specs.DEFAULT_CHECKPOINTS[size].filename


def names_for(spec: str) -> str:
    """Map a file name, a DMAOT model name or an HQ-SAM size to a registry file name."""
    if spec in REGISTRY:
        return spec
    if spec in sam_specs.DEFAULT_CHECKPOINTS:
        return default_sam_checkpoint(spec)
    try:
        return default_dmaot_checkpoint(spec)
    except UnknownCheckpointError:
        raise UnknownCheckpointError(
            f"unknown checkpoint {spec!r}: not a registry file, model name or HQ-SAM size "
            f"(see `vots-tracker weights list`)"
        ) from None


# --------------------------------------------------------------------------- folders


def user_cache_dir() -> Path:
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ".cache"


def default_weights_dir() -> Path:
    """$VOTS_TRACKER_WEIGHTS, else <user cache dir>/vots-tracker/weights."""
    env = os.environ.get(ENV_WEIGHTS_DIR)
    if env:
        return Path(env).expanduser()
    return user_cache_dir() / "vots-tracker" / "weights"


def _weights_dir(weights_dir: Optional[Union[str, Path]]) -> Path:
    return Path(weights_dir).expanduser() if weights_dir else default_weights_dir()


def download_hint(entry: CheckpointEntry, path: Path) -> str:
    return (
        f"download {entry.filename} from {entry.page} and place it at {path} "
        f"(or run: vots-tracker weights download {entry.filename} --weights-dir {path.parent})"
    )


# --------------------------------------------------------------------------- random manifest


def read_random_manifest(directory: Union[str, Path]) -> Dict[str, dict]:
    path = Path(directory) / RANDOM_MANIFEST
    if not path.is_file():
        return {}
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
        files = data.get("files", {})
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable %s: %s", path, exc)
        return {}


def write_random_manifest(directory: Union[str, Path], files: Dict[str, dict]) -> Path:
    path = Path(directory) / RANDOM_MANIFEST
    if not files:
        if path.exists():
            path.unlink()
        return path
    data = {
        "warning": "RANDOM WEIGHTS: these checkpoints were written by `vots-tracker weights init-random`. "
        "They hold randomly initialised parameters in the official formats, for plumbing tests only; "
        "tracking results with them are meaningless.",
        "files": dict(sorted(files.items())),
    }
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def is_random(path: Union[str, Path]) -> bool:
    """True if ``path`` is listed in its folder's RANDOM_WEIGHTS.json (and still the file written then)."""
    path = Path(path)
    info = read_random_manifest(path.parent).get(path.name)
    if info is None:
        return False
    size = info.get("size")
    try:
        return size is None or path.stat().st_size == int(size)
    except OSError:
        return False


def forget_random(path: Union[str, Path]) -> None:
    path = Path(path)
    files = read_random_manifest(path.parent)
    if path.name in files:
        del files[path.name]
        write_random_manifest(path.parent, files)


# --------------------------------------------------------------------------- verification


def sha256_file(path: Union[str, Path], chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + VERIFIED_SUFFIX)


def cached_sha256(path: Union[str, Path]) -> Optional[str]:
    """sha256 recorded in the sidecar if it still matches the file's size and mtime."""
    path = Path(path)
    try:
        st = path.stat()
        with open(_sidecar(path), "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if data.get("size") == st.st_size and data.get("mtime_ns") == st.st_mtime_ns:
        sha = data.get("sha256")
        return sha if isinstance(sha, str) else None
    return None


def record_sha256(path: Union[str, Path], sha: str) -> None:
    path = Path(path)
    try:
        st = path.stat()
        write_text_atomic(_sidecar(path), json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}))
    except OSError as exc:  # read-only weights folder: just hash again next time
        logger.debug("cannot write %s: %s", _sidecar(path), exc)


def file_sha256(path: Union[str, Path], use_cache: bool = True) -> str:
    """sha256 of a file, hashed at most once per (size, mtime) thanks to the sidecar."""
    path = Path(path)
    if use_cache:
        sha = cached_sha256(path)
        if sha:
            return sha
    size = path.stat().st_size
    if size > (256 << 20):
        logger.info("hashing %s (%.1f GB, once; the result is cached in %s)", path, size / 1e9, _sidecar(path).name)
    sha = sha256_file(path)
    record_sha256(path, sha)
    return sha


def verify_file(path: Union[str, Path], entry: CheckpointEntry, *, hash_check: bool = True,
                use_cache: bool = True) -> Optional[str]:
    """Check size and (where known) sha256 against the registry; return the sha256 if computed.

    Raises CheckpointVerificationError with a one-line message naming the file and the fix.
    """
    path = Path(path)
    size = path.stat().st_size
    fix = f"delete it and run: vots-tracker weights download {entry.filename} --weights-dir {path.parent}"
    if entry.size is not None and size != entry.size:
        raise CheckpointVerificationError(
            f"checkpoint {path} has {size} bytes, expected {entry.size} (incomplete or corrupt download): {fix}"
        )
    if entry.pin_sha256 and entry.sha256 is None:
        return _check_pin(path, entry, use_cache, fix)
    if not hash_check or entry.sha256 is None:
        return cached_sha256(path)
    sha = file_sha256(path, use_cache=use_cache)
    if sha != entry.sha256:
        raise CheckpointVerificationError(
            f"checkpoint {path} has sha256 {sha}, expected {entry.sha256} (corrupt or a different file): {fix}"
        )
    return sha


def _check_pin(path: Path, entry: CheckpointEntry, use_cache: bool, fix: str) -> str:
    """No published hash: the first copy's sha256 is pinned (``weights.pins``), later ones must match it."""
    sha = file_sha256(path, use_cache=use_cache)
    problem = pins.mismatch(path, sha)
    if problem:
        raise CheckpointVerificationError(f"checkpoint {path}: {problem} (or {fix})")
    if pins.read_pin(path) is None:
        pins.write_pin(path, sha, "first verification of a file placed by hand")
        logger.info("pinned sha256 %s of %s (no published hash; later copies must match)", sha, path.name)
    return sha


# --------------------------------------------------------------------------- resolution


def _looks_like_path(text: str) -> bool:
    return os.sep in text or (os.altsep is not None and os.altsep in text) or text.startswith(("~", "."))


def warn_if_random(path: Path) -> bool:
    if is_random(path):
        logger.warning(
            "checkpoint %s holds RANDOM weights (listed in %s, written by `vots-tracker weights init-random`): "
            "results are meaningless", path, path.parent / RANDOM_MANIFEST,
        )
        return True
    return False


def resolve_checkpoint(name_or_path: Union[str, os.PathLike],
                       weights_dir: Optional[Union[str, Path]] = None) -> Path:
    """Return the path of a checkpoint given as a path or an official file name.

    * an existing file path -> that path (RANDOM manifest warning applies);
    * a registry file name -> ``weights_dir/name``, verified against the registry
      (size; sha256 once, cached), unless the folder's RANDOM_WEIGHTS.json lists it;
    * missing -> :class:`MissingCheckpointError` naming the file, its URL and where to put it.
    """
    text = os.fspath(name_or_path)
    if not text:
        raise UnknownCheckpointError("empty checkpoint name")
    given = Path(text).expanduser()
    if given.is_file():
        path = given.resolve()
        entry = REGISTRY.get(path.name)
        if not warn_if_random(path) and entry is not None and path.parent == _weights_dir(weights_dir).resolve():
            verify_file(path, entry)
        return path
    if given.exists():
        raise CheckpointError(f"checkpoint {given} is not a file")

    folder = _weights_dir(weights_dir)
    entry = REGISTRY.get(text)
    if entry is None:
        if _looks_like_path(text) or given.is_absolute():
            raise MissingCheckpointError(f"checkpoint file {given} does not exist", text, "", str(given))
        candidate = folder / text
        if candidate.is_file():  # a custom file kept in the weights folder
            warn_if_random(candidate)
            return candidate
        raise MissingCheckpointError(
            f"checkpoint {text!r} is neither an existing file nor a known checkpoint name "
            f"and is not in {folder} (see `vots-tracker weights list`)", text, "", str(candidate)
        )

    path = folder / entry.filename
    if not path.is_file():
        part = path.with_name(path.name + PART_SUFFIX)
        extra = f" (an incomplete download {part.name} exists: rerun the download to resume)" if part.exists() else ""
        raise MissingCheckpointError(
            f"checkpoint {entry.filename} not found{extra}: {download_hint(entry, path)}",
            entry.filename, entry.page, str(path),
        )
    if warn_if_random(path):
        return path
    verify_file(path, entry)
    return path


def select(names: Iterable[str]) -> List[CheckpointEntry]:
    """Registry entries for file names / model names / sizes, in the given order, unique."""
    out: List[CheckpointEntry] = []
    for spec in names:
        entry = REGISTRY[names_for(spec)]
        if entry not in out:
            out.append(entry)
    return out
