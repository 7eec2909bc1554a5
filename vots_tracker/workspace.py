"""VOT toolkit workspaces for vots_tracker: ``vots-tracker workspace init DIR``.

A workspace is materialised from ``workspace_template/`` (``config.yaml`` for the
real ``vots2024/main`` stack, ``stacks/vots_offline.yaml`` for offline scoring) and
gets a ``trackers.ini`` generated from the repository-root ``trackers.ini``:

* every entry is rewritten to ``protocol = traxpython`` with ``python`` set to the
  current interpreter (``sys.executable``), ``paths`` set to the directory that holds
  the ``vots_tracker`` package, and a ``command`` that runs exactly
  ``python -m vots_tracker <args>`` (through ``runpy``: the toolkit's ``traxpython``
  protocol only accepts a bare module name or Python code, not a module plus flags);
* ``env_LD_LIBRARY_PATH = $LD_LIBRARY_PATH`` is added (the toolkit overwrites the
  variable otherwise), ``env_GLIBC_TUNABLES`` (``malloc_env``: fewer page faults on CPU)
  unless the entry sets it, and ``env_VOTS_TRACKER_WEIGHTS`` points at ``--weights-dir``.

With ``--synthetic N`` the workspace is fully offline: N small multi-object
sequences drawn the way the toolkit's ``vot.dataset.dummy`` draws them (its cow
template on a noise background, circular motion), adapted so that masks are the
ground truth, objects occlude each other, and at least one object appears after
the first frame (ground truth ``0`` = unknown before that frame, so the toolkit
hands it to the tracker in a later frame request); ``sequences/list.txt``;
random-init checkpoints for DeAOT-T and HQ-SAM vit_tiny; and the smoke entries
``dmaot_smoke``, ``hqsam_gate_smoke`` and ``hqsam_gate_smoke_cycle_redetect``.
"""

from __future__ import annotations

import ast
import configparser
import io
import logging
import math
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

from .errors import UserError
from .malloc_env import MALLOC_TUNABLES

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
#: Directory that must be on PYTHONPATH for ``python -m vots_tracker`` (the repository root in a checkout).
PACKAGE_ROOT = PACKAGE_DIR.parent
#: A non-editable install (pip install .) puts the repository-root files under <prefix>/share.
INSTALLED_DATA = Path(sys.prefix) / "share" / "vots-tracker"


def _data_path(name: str) -> Path:
    """A repository-root file or folder: from the checkout if there is one, else the installed copy."""
    in_checkout = PACKAGE_ROOT / name
    installed = INSTALLED_DATA / name
    return in_checkout if in_checkout.exists() or not installed.exists() else installed


TEMPLATE_DIR = _data_path("workspace_template")
ROOT_TRACKERS_INI = _data_path("trackers.ini")

MAIN_STACK = "vots2024/main"
OFFLINE_STACK = "stacks/vots_offline.yaml"

#: Random-init checkpoints written for a synthetic workspace (official file names).
SMOKE_WEIGHTS = ("DeAOTT_PRE_YTB_DAV.pth", "sam_hq_vit_tiny.pth")

#: Smoke entries added to a synthetic workspace: name -> (label, serve arguments).
SMOKE_TRACKERS: Dict[str, Tuple[str, List[str]]] = {
    "dmaot_smoke": ("DMAOT smoke (DeAOT-T, random init)", ["serve", "--preset", "dmaot_smoke"]),
    "hqsam_gate_smoke": (
        "DMAOT + HQ-SAM gate smoke (DeAOT-T + vit_tiny, random init)",
        ["serve", "--preset", "hqsam_gate_smoke"],
    ),
    # The other refinement options, set as trackers.ini flags over the preset.
    "hqsam_gate_smoke_cycle_redetect": (
        "DMAOT + HQ-SAM gate smoke with cycle prior and re-detection (random init)",
        ["serve", "--preset", "hqsam_gate_smoke", "--cycle", "--redetect"],
    ),
}
SMOKE_TIMEOUT = 300

#: Used only when the repository-root trackers.ini is missing (e.g. an installed wheel).
FALLBACK_TRACKERS: Dict[str, Tuple[str, List[str]]] = {
    "hqsam_gate": ("DMAOT + HQ-SAM + IoU gate", ["serve", "--preset", "hqsam_gate"]),
    "dmaot": ("DMAOT", ["serve", "--preset", "dmaot"]),
    "hqsam_gate_cycle": ("DMAOT + HQ-SAM + IoU gate + cycle", ["serve", "--preset", "hqsam_gate_cycle"]),
    "hqsam_gate_light": ("DMAOT + HQ-SAM (light) + IoU gate", ["serve", "--preset", "hqsam_gate_light"]),
}

#: Keys the workspace generator owns; any value in the root file is replaced.
_OWNED_KEYS = {"protocol", "command", "python", "paths"}


# --------------------------------------------------------------------------------------
# trackers.ini generation
# --------------------------------------------------------------------------------------


@dataclass
class TrackerEntry:
    """One ``trackers.ini`` section: the ``vots_tracker`` arguments plus pass-through keys."""

    name: str
    args: List[str]
    extra: Dict[str, str] = field(default_factory=dict)


def serve_command(args: Sequence[str]) -> str:
    """Python code (for ``traxpython``) equivalent to ``python -m vots_tracker <args>``."""
    argv = ", ".join(repr(a) for a in ["vots_tracker", *args])
    return (
        f"import runpy, sys; sys.argv = [{argv}]; "
        "runpy.run_module('vots_tracker', run_name='__main__', alter_sys=True)"
    )


def parse_command(command: str) -> Optional[List[str]]:
    """Recover the ``vots_tracker`` arguments from a trackers.ini ``command`` value.

    Accepted forms: ``[python -m] vots_tracker serve --preset X`` (also
    ``vots_tracker.cli``/``vots_tracker.__main__``), the runpy code written by
    :func:`serve_command`, and ``from vots_tracker.cli import main; main([...])``.
    Returns None when the command does not run vots_tracker.
    """
    command = command.strip()
    try:
        tree = ast.parse(command)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            # sys.argv = ['vots_tracker', ...]
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Tuple)):
                target = node.targets[0]
                if isinstance(target, ast.Attribute) and target.attr == "argv":
                    values = _literal_strings(node.value)
                    if values is not None:
                        return values[1:]
            # main([...])
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
                func = node.func
                fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if fname == "main":
                    values = _literal_strings(node.args[0])
                    if values is not None:
                        return values
    try:
        tokens = shlex.split(command)
    except ValueError:
        return None
    for i, token in enumerate(tokens):
        if token in ("vots_tracker", "vots_tracker.cli", "vots_tracker.__main__", "vots-tracker") or token.endswith(
            "/vots-tracker"
        ):
            return tokens[i + 1 :]
    return None


def _literal_strings(node: ast.AST) -> Optional[List[str]]:
    try:
        values = ast.literal_eval(node)
    except ValueError:
        return None
    if all(isinstance(v, str) for v in values):
        return list(values)
    return None


def read_root_trackers(path: Path = ROOT_TRACKERS_INI) -> List[TrackerEntry]:
    """Read the repository-root trackers.ini into entries (built-in fallback if it is missing)."""
    if not path.is_file():
        logger.warning("%s not found; using the built-in tracker entries %s", path, ", ".join(FALLBACK_TRACKERS))
        return [TrackerEntry(name, list(args), {"label": label}) for name, (label, args) in FALLBACK_TRACKERS.items()]
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep key case (env_ names are upper-cased by the toolkit anyway)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise UserError(f"cannot parse {path}: {exc}") from exc
    entries = []
    for section in parser.sections():
        values = dict(parser[section])
        command = values.get("command", "")
        args = parse_command(command)
        if args is None:
            raise UserError(
                f"{path} [{section}]: command {command!r} does not run vots_tracker; "
                "expected e.g. 'vots_tracker serve --preset NAME'"
            )
        extra = {k: v for k, v in values.items() if k not in _OWNED_KEYS}
        entries.append(TrackerEntry(section, args, extra))
    if not entries:
        raise UserError(f"{path} defines no trackers")
    return entries


def smoke_entries() -> List[TrackerEntry]:
    return [
        TrackerEntry(name, list(args), {"label": label, "timeout": str(SMOKE_TIMEOUT)})
        for name, (label, args) in SMOKE_TRACKERS.items()
    ]


def render_trackers_ini(
    entries: Iterable[TrackerEntry],
    python: Optional[str] = None,
    package_root: Optional[Path] = None,
    weights_dir: Optional[Path] = None,
    header: str = "",
) -> str:
    """Render entries as a workspace trackers.ini with absolute interpreter/package paths."""
    python = python or sys.executable
    package_root = Path(package_root or PACKAGE_ROOT).resolve()
    out = io.StringIO()
    if header:
        for line in header.splitlines():
            out.write(f"# {line}\n".replace("# \n", "#\n"))
        out.write("\n")
    for entry in entries:
        extra = dict(entry.extra)
        out.write(f"[{entry.name}]\n")
        out.write(f"label = {extra.pop('label', entry.name)}\n")
        out.write("protocol = traxpython\n")
        out.write(f"python = {python}\n")
        out.write(f"paths = {package_root}\n")
        out.write(f"command = {serve_command(entry.args)}\n")
        lowered = {k.lower() for k in extra}
        if "env_ld_library_path" not in lowered:
            extra["env_LD_LIBRARY_PATH"] = "$LD_LIBRARY_PATH"
        if "env_glibc_tunables" not in lowered:  # glibc reads it only at process start
            extra["env_GLIBC_TUNABLES"] = MALLOC_TUNABLES
        if weights_dir is not None:
            # An explicit weights folder wins over whatever the root file says.
            for key in [k for k in extra if k.lower() == "env_vots_tracker_weights"]:
                del extra[key]
            extra["env_VOTS_TRACKER_WEIGHTS"] = str(Path(weights_dir).resolve())
        for key, value in extra.items():
            if "%" in value:
                raise UserError(f"[{entry.name}] {key}: '%' is not allowed in trackers.ini values (configparser)")
            out.write(f"{key} = {value}\n")
        out.write("\n")
    return out.getvalue()


# --------------------------------------------------------------------------------------
# Synthetic sequences (adapted from vot.dataset.dummy)
# --------------------------------------------------------------------------------------


def _cow_template():
    from PIL import Image
    import vot.dataset.dummy as dummy

    return Image.open(os.path.join(os.path.dirname(dummy.__file__), "cow.png")).convert("RGBA")


def check_synthetic_args(count: int, length: int, size: Tuple[int, int], objects: int) -> None:
    """Reject impossible synthetic-dataset settings before anything is written."""
    if count < 1:
        raise UserError(f"--synthetic must be >= 1, got {count}")
    if length < 2:
        raise UserError(f"--frames must be >= 2, got {length}")
    if objects < 1:
        raise UserError(f"--objects must be >= 1, got {objects}")
    width, height = size
    if width < 64 or height < 64:
        raise UserError(f"--size must be at least 64x64, got {width}x{height}")


def generate_sequence(
    base: Path,
    length: int = 16,
    size: Tuple[int, int] = (320, 240),
    objects: int = 3,
    late_objects: int = 1,
    seed: int = 0,
) -> Dict[str, int]:
    """Write one VOT-format multi-object sequence into ``base``; return object id -> first frame.

    Like ``vot.dataset.dummy._generate`` (cow template, noise background, objects on a
    circle), but: mask ground truth with occlusions resolved by paste order, a per-object
    tint and scale, and the last ``late_objects`` objects entering at frame ``length // 3``
    (ground truth ``0`` = unknown before that, so the toolkit adds them in a later frame).
    """
    import numpy as np
    from PIL import Image
    from vot.dataset import Sequence
    from vot.region import Special
    from vot.region.io import write_trajectory
    from vot.region.shapes import Mask
    from vot.utilities import write_properties

    check_synthetic_args(1, length, size, objects)
    width, height = size

    rng = np.random.default_rng(seed)
    base.mkdir(parents=True, exist_ok=True)
    (base / "color").mkdir(exist_ok=True)

    # Background: the dummy's dark noise plus a soft gradient, so frames are not featureless.
    yy, xx = np.mgrid[0:height, 0:width]
    gradient = (40 * xx / max(width - 1, 1) + 30 * yy / max(height - 1, 1))[..., None]
    background = np.clip(rng.normal(15, 5, (height, width, 3)) + gradient, 0, 255).astype(np.uint8)

    template = _cow_template()
    late_objects = min(max(late_objects, 0), objects - 1 if objects > 1 else 0)
    if objects == 1:
        late_objects = 0
    appear_at = max(1, length // 3)
    starts = [appear_at if o >= objects - late_objects else 0 for o in range(objects)]

    sprites = []
    for o in range(objects):
        scale = 0.30 * height / template.size[1] * (1.0 - 0.12 * (o % 3))
        w = max(8, int(round(template.size[0] * scale)))
        h = max(8, int(round(template.size[1] * scale)))
        sprite = template.resize((w, h), Image.BILINEAR)
        arr = np.asarray(sprite).astype(np.float32)
        tint = rng.uniform(0.5, 1.3, size=3)
        arr[..., :3] = np.clip(arr[..., :3] * tint, 0, 255)
        sprites.append(arr.astype(np.uint8))

    cx, cy = width / 2.0, height / 2.0
    max_w = max(s.shape[1] for s in sprites)
    max_h = max(s.shape[0] for s in sprites)
    radius = max(0.0, 0.85 * min(cx - max_w / 2.0, cy - max_h / 2.0))
    speed = math.pi / max(length, 1)  # half a turn over the sequence
    offset = 2 * math.pi / objects

    ids = [f"{o + 1:03d}" if objects > 1 else "object" for o in range(objects)]
    groundtruth: Dict[str, list] = {oid: [] for oid in ids}
    for i in range(length):
        frame = background.astype(np.float32).copy()
        labels = np.zeros((height, width), dtype=np.int32)
        for o, sprite in enumerate(sprites):
            if i < starts[o]:
                continue
            sh, sw = sprite.shape[:2]
            x = int(round(cx + math.cos(i * speed + offset * o) * radius - sw / 2.0))
            y = int(round(cy + math.sin(i * speed + offset * o) * radius - sh / 2.0))
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + sw, width), min(y + sh, height)
            if x1 <= x0 or y1 <= y0:
                continue
            crop = sprite[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
            alpha = crop[..., 3:4] / 255.0
            frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - alpha) + crop[..., :3] * alpha
            labels[y0:y1, x0:x1][crop[..., 3] > 127] = o + 1
        Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(
            base / "color" / f"{i + 1:08d}.jpg", quality=95
        )
        for o, oid in enumerate(ids):
            if i < starts[o]:
                groundtruth[oid].append(Special(Sequence.UNKNOWN))
            else:
                mask = np.ascontiguousarray((labels == o + 1).astype(np.uint8))
                groundtruth[oid].append(Mask(mask, optimize=True))

    if objects == 1:
        write_trajectory(str(base / "groundtruth.txt"), groundtruth["object"])
    else:
        for oid, trajectory in groundtruth.items():
            write_trajectory(str(base / f"groundtruth_{oid}.txt"), trajectory)
    write_properties(
        str(base / "sequence"),
        {
            "name": base.name,
            "fps": 30,
            "format": "default",
            "channel.default": "color",
            "channels.color": "color/%08d.jpg",
            "width": width,
            "height": height,
            "length": length,
        },
    )
    return dict(zip(ids, starts))


def generate_dataset(
    directory: Path,
    count: int,
    length: int = 16,
    size: Tuple[int, int] = (320, 240),
    objects: int = 3,
    seed: int = 0,
) -> List[str]:
    """Write ``count`` synthetic sequences and ``list.txt`` into ``directory``; return their names."""
    check_synthetic_args(count, length, size, objects)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for k in range(count):
        name = f"synthetic-{k + 1:02d}"
        # Every sequence has one late object when it has more than one object.
        generate_sequence(directory / name, length, size, objects, late_objects=1, seed=seed + k)
        names.append(name)
    (directory / "list.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return names


# --------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------


def init_random_weights(weights_dir: Path, names: Sequence[str] = SMOKE_WEIGHTS) -> List[Path]:
    """Make sure random-init checkpoints exist for ``names`` in ``weights_dir`` (existing files are kept).

    Uses ``vots_tracker.weights.cli.init_random(directory, registry.select(names))`` (which
    records the files in RANDOM_WEIGHTS.json); falls back to the CLI
    ``python -m vots_tracker weights init-random DIR NAME...`` if that is not importable.
    """
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if not (weights_dir / n).is_file()]
    if not missing:
        logger.info("checkpoints already present in %s: %s", weights_dir, ", ".join(names))
        return [weights_dir / n for n in names]
    logger.info("writing random-init checkpoints %s into %s", ", ".join(missing), weights_dir)
    try:
        from .weights import registry as weights_registry
        from .weights.cli import init_random
    except ImportError as exc:
        logger.debug("vots_tracker.weights.cli.init_random not importable (%s); using the CLI", exc)
        init_random = None
    if init_random is not None:
        try:
            init_random(weights_dir, weights_registry.select(missing))
        except ImportError as exc:  # the model code that builds the random networks is missing
            raise UserError(f"cannot write random-init checkpoints {', '.join(missing)}: {exc}") from exc
    else:
        cmd = [sys.executable, "-m", "vots_tracker", "weights", "init-random", str(weights_dir), *missing]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise UserError(
                f"'{' '.join(cmd)}' failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )
    still = [n for n in missing if not (weights_dir / n).is_file()]
    if still:
        raise UserError(f"random-init checkpoints were not written to {weights_dir}: {', '.join(still)}")
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

    ``force`` rewrites config.yaml, trackers.ini and stacks/, always clears cache/, and for
    ``synthetic`` also deletes sequences/ and results/ (they would not match the new data).
    """
    directory = Path(directory).expanduser().resolve()
    if synthetic:
        check_synthetic_args(synthetic, frames, size, objects)
    config_file = directory / "config.yaml"
    if config_file.exists() and not force:
        raise UserError(f"{directory} already holds a workspace (config.yaml); pass --force to rewrite it")
    if not (TEMPLATE_DIR / "config.yaml").is_file():
        raise UserError(f"workspace template not found at {TEMPLATE_DIR}")

    directory.mkdir(parents=True, exist_ok=True)
    if force:
        doomed = ["cache"] + (["sequences", "results"] if synthetic else [])
        for name in doomed:
            if (directory / name).exists():
                logger.info("--force: removing %s", directory / name)
                shutil.rmtree(directory / name)

    with open(TEMPLATE_DIR / "config.yaml", "r", encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    if stack is None:
        stack = OFFLINE_STACK if synthetic else config.get("stack", MAIN_STACK)
    config["stack"] = stack
    config.setdefault("registry", ["./trackers.ini"])

    if (TEMPLATE_DIR / "stacks").is_dir():
        shutil.copytree(TEMPLATE_DIR / "stacks", directory / "stacks", dirs_exist_ok=True)
    _check_stack(stack, directory)

    with open(config_file, "w", encoding="utf-8") as handle:
        handle.write("# Written by `vots-tracker workspace init` from workspace_template/config.yaml\n")
        yaml.safe_dump(config, handle, sort_keys=False)
    for name in ("sequences", "results"):
        (directory / name).mkdir(exist_ok=True)

    entries = read_root_trackers(root_trackers)
    smoke_weights = None
    if synthetic:
        width, height = size
        names = generate_dataset(directory / "sequences", synthetic, frames, (width, height), objects, seed)
        logger.info("wrote %d synthetic sequences: %s", len(names), ", ".join(names))
        smoke_weights = Path(weights_dir).expanduser().resolve() if weights_dir else directory / "weights"
        init_random_weights(smoke_weights, SMOKE_WEIGHTS)

    main_weights = Path(weights_dir).expanduser().resolve() if weights_dir else None
    text = render_trackers_ini(
        entries,
        weights_dir=main_weights,
        header=(
            "Generated by `vots-tracker workspace init` from "
            f"{root_trackers if root_trackers.is_file() else 'built-in entries'}.\n"
            "Each command runs `python -m vots_tracker <args>`; edit the argument list to change flags."
        ),
    )
    if synthetic:
        text += render_trackers_ini(smoke_entries(), weights_dir=smoke_weights)
    (directory / "trackers.ini").write_text(text, encoding="utf-8")
    logger.info("workspace ready at %s (stack %s)", directory, stack)
    return directory


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
