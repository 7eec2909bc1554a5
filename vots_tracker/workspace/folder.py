"""VOT toolkit workspaces for vots_tracker: ``vots-tracker workspace init DIR``.

A workspace is materialised from ``workspace_template/`` (``config.yaml`` for the
real ``vots2024/main`` stack, ``stacks/vots_offline.yaml`` for offline scoring) and
gets a ``trackers.ini`` generated from the repository-root ``trackers.ini``
(:mod:`vots_tracker.workspace.trackers_ini`).

With ``--synthetic N`` the workspace is fully offline: N small multi-object
sequences (:mod:`vots_tracker.workspace.synthetic_sequences`), ``sequences/list.txt``,
random-init checkpoints for DeAOT-T and HQ-SAM vit_tiny, and the smoke entries
``dmaot_smoke``, ``hqsam_gate_smoke`` and ``hqsam_gate_smoke_cycle_redetect``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import yaml

from .data_files import ROOT_TRACKERS_INI, TEMPLATE_DIR
from ..errors import UserError
from ..media.staging import foreign_files, write_text_atomic
from .synthetic_sequences import SYNTHETIC_MANIFEST, check_synthetic_args, generate_dataset, generated_sequences
from .trackers_ini import read_root_trackers, render_trackers_ini, smoke_entries

logger = logging.getLogger(__name__)

MAIN_STACK = "vots2024/main"
OFFLINE_STACK = "stacks/vots_offline.yaml"

#: Random-init checkpoints written for a synthetic workspace (official file names).
SMOKE_WEIGHTS = ("DeAOTT_PRE_YTB_DAV.pth", "sam_hq_vit_tiny.pth")


# --------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------


def init_random_weights(weights_dir: Path, names: Sequence[str] = SMOKE_WEIGHTS) -> List[Path]:
    """Make sure random-init checkpoints exist for ``names`` in ``weights_dir`` (existing files are kept).

    The files are written by ``weights init-random``'s own function, which records them
    in RANDOM_WEIGHTS.json.
    """
    from ..weights.random_init import init_random

    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if not (weights_dir / n).is_file()]
    if not missing:
        logger.info("checkpoints already present in %s: %s", weights_dir, ", ".join(names))
        return [weights_dir / n for n in names]
    logger.info("writing random-init checkpoints %s into %s", ", ".join(missing), weights_dir)
    init_random(weights_dir, missing)
    return [weights_dir / n for n in names]


# --------------------------------------------------------------------------------------
# Workspace
# --------------------------------------------------------------------------------------


def _parse_size(text: str) -> Tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise UserError(f"--size must look like WxH (e.g. 320x240), got {text!r}") from None


def init_workspace(
    directory: os.PathLike,
    stack: Optional[str] = None,
    synthetic: int = 0,
    frames: int = 16,
    size: Tuple[int, int] = (320, 240),
    objects: int = 3,
    weights_dir: Optional[os.PathLike] = None,
    force: bool = False,
    seed: int = 0,
    root_trackers: Path = ROOT_TRACKERS_INI,
) -> Path:
    """Create (or with ``force`` rewrite) a workspace; return its absolute path.

    ``force`` rewrites config.yaml, trackers.ini and stacks/ and clears cache/. sequences/
    and results/ are never deleted: ``synthetic`` replaces only the sequences an earlier
    ``--synthetic`` wrote (and their results, which would not match the new data), and
    refuses, naming them, if sequences/ holds anything else.
    """
    directory = Path(directory).expanduser().resolve()
    if not str(directory).isascii():
        logger.warning("%s holds non-ASCII characters, which TraX cannot carry: a plain `vot evaluate` here fails "
                       "on every sequence (vots-tracker's own commands work around it); prefer an ASCII path", directory)
    if synthetic:
        check_synthetic_args(synthetic, frames, size, objects)
    if (directory / "config.yaml").exists() and not force:
        raise UserError(f"{directory} already holds a workspace (config.yaml); pass --force to rewrite it")
    if not (TEMPLATE_DIR / "config.yaml").is_file():
        raise UserError(f"workspace template not found at {TEMPLATE_DIR}")
    if synthetic:
        _refuse_foreign_sequences(directory / "sequences")

    directory.mkdir(parents=True, exist_ok=True)
    if force and (directory / "cache").exists():  # analysis cache: derived, keyed by names only
        logger.info("--force: removing %s", directory / "cache")
        shutil.rmtree(directory / "cache")
    stack = _write_config(directory, stack, synthetic)
    for name in ("sequences", "results"):
        (directory / name).mkdir(exist_ok=True)

    entries = read_root_trackers(root_trackers)
    smoke_weights = None
    if synthetic:
        _remove_generated(directory)
        names = generate_dataset(directory / "sequences", synthetic, frames, size, objects, seed)
        logger.info("wrote %d synthetic sequences: %s", len(names), ", ".join(names))
        smoke_weights = Path(weights_dir).expanduser().resolve() if weights_dir else directory / "weights"
        init_random_weights(smoke_weights, SMOKE_WEIGHTS)

    main_weights = Path(weights_dir).expanduser().resolve() if weights_dir else None
    text = render_trackers_ini(
        entries,
        weights_dir=main_weights,
        header=(
            f"Generated by `vots-tracker workspace init` from {root_trackers}.\n"
            "Each command runs `python -m vots_tracker <args>`; edit the argument list to change flags."
        ),
    )
    if synthetic:
        text += render_trackers_ini(smoke_entries(), weights_dir=smoke_weights)
    write_text_atomic(directory / "trackers.ini", text)
    logger.info("workspace ready at %s (stack %s)", directory, stack)
    return directory


def _write_config(directory: Path, stack: Optional[str], synthetic: int) -> str:
    """config.yaml from the template (and the template's stacks/); returns the stack it names."""
    with open(TEMPLATE_DIR / "config.yaml", "r", encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    if stack is None:
        stack = OFFLINE_STACK if synthetic else config.get("stack", MAIN_STACK)
    config["stack"] = stack
    config.setdefault("registry", ["./trackers.ini"])
    if (TEMPLATE_DIR / "stacks").is_dir():
        shutil.copytree(TEMPLATE_DIR / "stacks", directory / "stacks", dirs_exist_ok=True)
    _check_stack(stack, directory)
    header = "# Written by `vots-tracker workspace init` from workspace_template/config.yaml\n"
    write_text_atomic(directory / "config.yaml", header + yaml.safe_dump(config, sort_keys=False))
    return stack


def _refuse_foreign_sequences(sequences: Path) -> None:
    """``--synthetic`` writes into sequences/: only over what an earlier ``--synthetic`` wrote there."""
    if not sequences.is_dir():
        return
    ours = set(generated_sequences(sequences)) | {"list.txt", SYNTHETIC_MANIFEST}
    found = foreign_files(sequences, lambda relative: relative.parts[0] in ours)
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise UserError(
            f"{sequences} holds {len(found)} item(s) that `workspace init --synthetic` did not write ({shown}); "
            "it never deletes sequences: choose another workspace folder or move them away"
        )


def _remove_generated(directory: Path) -> None:
    """Remove the sequences an earlier ``--synthetic`` wrote, and the results computed on them."""
    names = generated_sequences(directory / "sequences")
    for name in names:
        doomed = [directory / "sequences" / name] + list((directory / "results").glob(f"*/*/{name}"))
        for path in doomed:
            if path.is_dir():
                logger.info("replacing synthetic data: removing %s", path)
                shutil.rmtree(path)


def _check_stack(stack: str, directory: Path) -> None:
    from vot.stack import resolve_stack

    if resolve_stack(stack, str(directory)) is None:
        raise UserError(f"stack {stack!r} not found (neither a toolkit stack nor a file under {directory})")


def sequences_present(directory: os.PathLike, sequences: str = "sequences") -> bool:
    """True when loading the workspace will not try to download (``<sequences>/list.txt`` exists)."""
    return (Path(directory) / sequences / "list.txt").is_file()


def stack_dataset_url(directory: os.PathLike) -> Optional[str]:
    """The stack's ``dataset`` URL for a workspace, without loading (and downloading) it."""
    from vot.stack import resolve_stack

    directory = Path(directory)
    with open(directory / "config.yaml", "r", encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    stack_file = resolve_stack(str(config.get("stack", "")), str(directory))
    if stack_file is None:
        raise UserError(f"stack {config.get('stack')!r} of workspace {directory} not found")
    with open(stack_file, "r", encoding="utf-8") as handle:
        meta = yaml.safe_load(handle) or {}
    return meta.get("dataset")


def download_sequences(directory: os.PathLike) -> None:
    """Download the stack's dataset into the workspace (online only); a clear UserError offline."""
    from vot.workspace import Workspace

    directory = Path(directory)
    if sequences_present(directory):
        return
    url = stack_dataset_url(directory)
    if not url:
        raise UserError(f"{directory}/sequences/list.txt is missing and the stack names no dataset to download")
    logger.info("downloading the dataset %s into %s/sequences (this is large)", url, directory)
    try:
        Workspace.download_dataset(url, str(directory / "sequences"))
    except Exception as exc:  # the toolkit raises plain exceptions from requests
        raise UserError(
            f"cannot download the sequences from {url} ({type(exc).__name__}: {exc}); "
            f"offline, put the dataset (with list.txt) into {directory / 'sequences'}"
        ) from exc


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def register(subparsers) -> None:
    parser = subparsers.add_parser("workspace", help="create VOT toolkit workspaces")
    sub = parser.add_subparsers(dest="workspace_command", metavar="COMMAND")
    sub.required = True
    init = sub.add_parser(
        "init",
        help="materialise a workspace (config.yaml, trackers.ini; --synthetic: offline sequences and weights)",
        description=(
            "Create a VOT toolkit workspace from workspace_template/. trackers.ini is generated from the "
            "repository-root trackers.ini with absolute paths for this interpreter. With --synthetic N the "
            "workspace is fully offline: N synthetic multi-object sequences, random-init DeAOT-T and HQ-SAM "
            "vit_tiny checkpoints and the smoke trackers dmaot_smoke, hqsam_gate_smoke and hqsam_gate_smoke_cycle_redetect."
        ),
    )
    init.add_argument("directory", metavar="DIR", help="workspace folder (created if missing)")
    init.add_argument(
        "--stack", default=None,
        help=f"toolkit stack name or stack file path [default: {MAIN_STACK}; {OFFLINE_STACK} with --synthetic]",
    )
    init.add_argument("--synthetic", type=int, default=0, metavar="N", help="write N synthetic sequences")
    init.add_argument("--frames", type=int, default=16, metavar="F", help="frames per synthetic sequence [16]")
    init.add_argument("--size", default="320x240", metavar="WxH", help="synthetic frame size [320x240]")
    init.add_argument("--objects", type=int, default=3, metavar="K", help="objects per synthetic sequence [3]")
    init.add_argument(
        "--weights-dir", default=None, metavar="DIR",
        help="checkpoint folder for the trackers (env_VOTS_TRACKER_WEIGHTS); with --synthetic the random-init "
        "smoke checkpoints go here [default: DIR/weights]",
    )
    init.add_argument("--seed", type=int, default=0, help="random seed of the synthetic data [0]")
    init.add_argument("--force", action="store_true", help="rewrite an existing workspace (see docs)")
    init.set_defaults(func=_cmd_init)


def _cmd_init(args) -> int:
    path = init_workspace(
        args.directory,
        stack=args.stack,
        synthetic=args.synthetic,
        frames=args.frames,
        size=_parse_size(args.size),
        objects=args.objects,
        weights_dir=args.weights_dir,
        force=args.force,
        seed=args.seed,
    )
    print(f"workspace: {path}")
    if not sequences_present(path):
        print("sequences: not present yet; `vots-tracker evaluate` or `vot evaluate` downloads them (online only)")
    return 0
