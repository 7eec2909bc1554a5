"""``vots-tracker weights list | download | verify | init-random``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from ..config import TrackerConfig
from ..errors import UserError
from . import pins, registry
from .random_init import init_random
from .registry import (
    ENTRIES,
    ENV_WEIGHTS_DIR,
    PART_SUFFIX,
    RANDOM_MANIFEST,
    REGISTRY,
    CheckpointEntry,
    CheckpointError,
    default_weights_dir,
)

logger = logging.getLogger(__name__)


_LARGEST = max(ENTRIES, key=lambda e: e.size or 0)


def _default_files() -> List[str]:
    """`weights download` without NAME: the files of the default configuration."""
    from ..components import required_checkpoints

    return required_checkpoints(TrackerConfig())


def _human(n: Optional[int]) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def _folder(args: argparse.Namespace) -> Path:
    return Path(args.weights_dir).expanduser() if args.weights_dir else default_weights_dir()


def _entries(names: List[str], *, all_: bool = False, preset: Optional[str] = None,
             default: Optional[List[CheckpointEntry]] = None) -> List[CheckpointEntry]:
    if all_:
        return list(ENTRIES)
    specs = list(names)
    if preset:
        from ..components import required_checkpoints
        from ..config import make_config

        specs.extend(required_checkpoints(make_config(preset)))
    if not specs:
        return list(default or [])
    return registry.select(specs)


def _status(entry: CheckpointEntry, folder: Path) -> str:
    path = folder / entry.filename
    if not path.is_file():
        part = folder / (entry.filename + PART_SUFFIX)
        return f"partial ({_human(part.stat().st_size)})" if part.exists() else "missing"
    if registry.is_random(path):
        return "RANDOM"
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return "WRONG SIZE"
    sha = registry.cached_sha256(path)
    expected = entry.sha256 or (pins.read_pin(path) if entry.pin_sha256 else None)
    if expected is not None and sha is not None:
        return "verified" if sha == expected else "WRONG SHA256"
    return "present"


def _sha_column(entry: CheckpointEntry, folder: Path) -> str:
    """published; or, for files without a published hash, whether the first download's sha256 is pinned."""
    if entry.sha256:
        return "known"
    if entry.pin_sha256:
        return "pinned at first download" if pins.read_pin(folder / entry.filename) else "unpublished; pinned at first download"
    return "unknown"


# --------------------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    folder = _folder(args)
    rows = [("file", "kind", "model", "size", "sha256", "status", "url")]
    for e in ENTRIES:
        rows.append((e.filename, e.kind, e.model, _human(e.size), _sha_column(e, folder),
                     _status(e, folder), e.page))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    print(f"weights folder: {folder}")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return 0


# --------------------------------------------------------------------------- download


def cmd_download(args: argparse.Namespace) -> int:
    from .download import ensure_checkpoints

    default = [REGISTRY[name] for name in _default_files()]
    entries = _entries(args.names, all_=args.all, preset=args.preset, default=default)
    if not (args.names or args.all or args.preset):
        logger.info("no NAME given: downloading the default tracker's checkpoints (%s); --all for every file",
                    ", ".join(e.filename for e in entries))
    for path in ensure_checkpoints([e.filename for e in entries], _folder(args), mirror=args.mirror,
                                   force=args.force, retries=args.retries, timeout=args.timeout,
                                   progress=not args.no_progress):
        print(path)
    return 0


# --------------------------------------------------------------------------- verify


def _deep_check(path: Path) -> None:
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means torch cannot load it
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"torch cannot load {path}: {first}") from None


def cmd_verify(args: argparse.Namespace) -> int:
    folder = _folder(args)
    if args.names:
        entries = registry.select(args.names)
    else:
        entries = [e for e in ENTRIES if (folder / e.filename).is_file()]
        if not entries:
            raise UserError(f"no checkpoint files in {folder} to verify (see `vots-tracker weights list`)")
    failed = 0
    for entry in entries:
        path = folder / entry.filename
        if not path.is_file():
            print(f"MISSING  {entry.filename}: {registry.download_hint(entry, path)}")
            failed += 1
            continue
        random = registry.is_random(path)
        try:
            if random:
                sha = registry.file_sha256(path, use_cache=not args.rehash)
            else:
                sha = registry.verify_file(path, entry, use_cache=not args.rehash)
                if sha is None:
                    sha = registry.file_sha256(path, use_cache=not args.rehash)
            if args.deep:
                _deep_check(path)
        except CheckpointError as exc:
            print(f"FAILED   {entry.filename}: {exc}")
            failed += 1
            continue
        if random:
            label = "RANDOM  "
            note = "random weights from init-random (registry checks skipped)"
        elif entry.sha256 is not None:
            label, note = "OK      ", "size and sha256 match the registry"
        elif entry.pin_sha256:
            label, note = "OK      ", "size matches; sha256 matches the first download's (no published hash)"
        elif entry.size is not None:
            label, note = "OK      ", "size matches; no published sha256"
        else:
            label, note = "UNCHECKED", "no published size or sha256"
        print(f"{label} {entry.filename}  {path.stat().st_size} bytes  sha256 {sha}  ({note})")
    if failed:
        print(f"{failed} of {len(entries)} checkpoint(s) failed verification", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- init-random


def cmd_init_random(args: argparse.Namespace) -> int:
    entries = _entries(args.names, default=list(ENTRIES))
    if not args.names:
        logger.warning("no NAME given: writing RANDOM weights for all %d registry files; this takes several GB "
                       "(%s alone is %s). Name files to restrict, e.g. `init-random DIR deaott vit_tiny`",
                       len(entries), _LARGEST.filename, _human(_LARGEST.size))
    paths = init_random(Path(args.directory).expanduser(), entries, seed=args.seed, force=args.force)
    for path in paths:
        print(f"RANDOM {path}")
    print(f"RANDOM weights (not trained; for tests only) listed in {Path(args.directory) / RANDOM_MANIFEST}")
    return 0


# --------------------------------------------------------------------------- parser


def register(subparsers) -> None:
    """The ``weights`` subcommands and their flags: one declaration after another, kept together."""
    parser = subparsers.add_parser(
        "weights",
        help="list, download, verify checkpoints; write RANDOM test checkpoints",
        description="Manage the official checkpoint files (DMAOT/DeAOT/AOT, HQ-SAM) in the weights folder "
        f"(--weights-dir, else ${ENV_WEIGHTS_DIR}, else {default_weights_dir()}).",
    )
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION")

    def common(p):
        p.add_argument("--weights-dir", metavar="DIR", default=None,
                       help=f"weights folder [default: ${ENV_WEIGHTS_DIR} or {default_weights_dir()}]")

    p = sub.add_parser("list", help="list registry files and their state in the weights folder")
    common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "download", help="download checkpoints (resumable), verify them, put them in the weights folder",
        description="Download checkpoint files. NAME is a file name (see `list`), a DMAOT model name "
        "(e.g. deaott, swinb_dm_deaotl) or an HQ-SAM size (vit_tiny ... vit_h). Without NAME: the default "
        f"tracker's files ({', '.join(_default_files())}). Interrupted downloads resume "
        "from <name>.part.",
    )
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true", help="download every registry file (many GB)")
    p.add_argument("--preset", help="download the files a preset uses")
    p.add_argument("--force", action="store_true", help="download again even if a verified file exists")
    p.add_argument("--mirror", metavar="URL",
                   help="fetch <URL>/<file name> instead of the official URLs [env: VOTS_TRACKER_WEIGHTS_MIRROR]")
    p.add_argument("--retries", type=int, default=5, help="retries (with resume) per URL [default: 5]")
    p.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds [default: 60]")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    common(p)
    p.set_defaults(func=cmd_download)

    p = sub.add_parser(
        "verify", help="check size and sha256 of checkpoint files (all present files by default)",
    )
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--deep", action="store_true",
                   help="also load each file with torch.load(weights_only=True) to catch unreadable files")
    p.add_argument("--rehash", action="store_true", help="ignore cached hashes (<file>.verified)")
    common(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "init-random",
        help="write RANDOM (untrained) checkpoints under the official names, for tests only",
        description="Write RANDOMLY INITIALISED checkpoints in the official formats under the official file "
        "names into DIR, and list them in DIR/RANDOM_WEIGHTS.json. The tracker runs with them but its output "
        "is meaningless: for plumbing tests, CI and benchmarks of speed/memory only. Loading a listed file "
        f"logs a RANDOM-weights warning. Without NAME: all registry files (several GB; {_LARGEST.filename} alone "
        f"is {_human(_LARGEST.size)}).",
    )
    p.add_argument("directory", metavar="DIR", help="folder to write the RANDOM checkpoints into")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="file names, DMAOT model names or HQ-SAM sizes (default: all)")
    p.add_argument("--seed", type=int, default=0, help="random seed [default: 0]")
    p.add_argument("--force", action="store_true", help="overwrite files that are not listed as random")
    p.set_defaults(func=cmd_init_random)
