"""Tracker configuration: one dataclass, named YAML presets, and the matching CLI flags.

Every option of the tracker lives in :class:`TrackerConfig`. A preset
(``vots_tracker/presets/<name>.yaml``, or any YAML file given by path) sets a
subset of the fields; command-line flags override the preset, whatever their
position on the command line. ``serve`` and ``track`` share these flags, so
``trackers.ini`` selects a variant purely through its ``command`` line.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml

from .dmaot.specs import get_spec
from .errors import UserError
from .refine import sam_specs
from .refine.gate import GATES
from .refine.sam_specs import PROMPTS, PROPOSAL_MODES

PRESET_DIR = Path(__file__).with_name("presets")

SAM_SIZES = ("none",) + sam_specs.SIZES
AMP_MODES = ("none", "bf16", "fp16")
# A checkpoint belongs to its model: a flag that changes the model drops the preset's checkpoint.
CHECKPOINT_OF = {"model": "dmaot_checkpoint", "sam": "sam_checkpoint"}


class ConfigError(UserError, ValueError):
    """A configuration value or preset is invalid; the message names it."""


@dataclass
class TrackerConfig:
    """All tracker options. Field docs are the help texts of the CLI flags."""

    # --- propagator (DMAOT) ---
    model: str = "swinb_dm_deaotl"
    """DMAOT model name: [<backbone>_][dm_]<arch>, e.g. deaott, r50_deaotl, swinb_dm_deaotl, swinb_aotl."""
    dmaot_checkpoint: Optional[str] = None
    """DMAOT checkpoint: a path, or an official file name looked up in --weights-dir."""
    long_max: int = 10
    """Long-term memory frames kept per object (DM models) or per identity group (plain AOT/DeAOT), reference frame included."""
    long_gap: int = 30
    """Frames between long-term memory updates."""
    short_gap: int = 2
    """The short-term memory is the frame this many frames back (aot-benchmark's short_term_mem_skip)."""
    max_edge: int = 1040
    """Longest image edge DMAOT processes, in pixels (0 = full resolution). Masks are returned at full size."""

    # --- refinement (HQ-SAM + IoU gate) ---
    sam: str = "vit_h"
    """HQ-SAM size: none (DMAOT only), vit_tiny, vit_b, vit_l, vit_h; or vanilla SAM (segment-anything): sam_vit_b, sam_vit_l, sam_vit_h; or SAM 2.1 (the sam2 package): sam2.1_hiera_t, sam2.1_hiera_s, sam2.1_hiera_b+, sam2.1_hiera_l."""
    sam_checkpoint: Optional[str] = None
    """HQ-SAM checkpoint: a path, or an official file name looked up in --weights-dir."""
    tau: float = 0.59
    """IoU gate: a refined mask replaces the DMAOT mask only if their IoU is strictly above tau."""
    gate: str = "exact"
    """Gate rule: exact (intersection / union), smoothed (the original runners' sum(m*p + 1e-6) / (union + 1e-6), which inflates small objects' IoU), off (the proposal replaces every present object's mask)."""
    proposals: str = "all"
    """Proposals per object: all (3 SAM multimask + HQ), hq, single (the original scripts' one mask), or K in 1..4 (vanilla SAM: all = its 3 multimask masks, or K in 1..3; SAM 2.1: the same, or single = its one mask)."""
    prompt: str = "box"
    """HQ-SAM prompt built from the DMAOT mask: box (SAM's mask box, first to last pixel index, as the original runners), box+mask, box+points, box-edges (one pixel past the mask), box-inclusive (box's former name)."""
    decode_batch: int = 0
    """Objects per HQ-SAM mask-decoder call: 0 = auto (all in one call on CUDA, one per call on CPU, where that is faster), N = at most N."""
    resolve_overlaps: bool = True
    """After refinement, give every pixel to at most one object."""
    cycle: bool = False
    """Cycle prior: accepted (refined) masks, not DMAOT's own, feed DMAOT's memory."""
    redetect: bool = False
    """Re-detect lost objects with a Kalman-predicted box prompt, under a stricter acceptance rule."""
    parallel_embedding: bool = True
    """Compute the HQ-SAM image embedding concurrently with DMAOT propagation (on a CPU only with more than one thread)."""
    max_refine_failures: int = 5
    """Consecutive frames on which HQ-SAM may fail (each keeps DMAOT's masks, with a warning) before refinement is turned off for the rest of the sequence."""

    # --- runtime ---
    device: str = "auto"
    """Torch device: auto (cuda if available), cpu, cuda, cuda:N."""
    amp: str = "none"
    """Autocast on CUDA: none, bf16, fp16 (ignored on CPU)."""
    threads: int = 0
    """CPU threads for torch (0 = torch's default)."""
    weights_dir: Optional[str] = None
    """Folder holding checkpoint files (default: $VOTS_TRACKER_WEIGHTS or the user cache dir)."""
    log_level: str = "INFO"
    """Logging level on stderr: DEBUG, INFO, WARNING, ERROR."""

    def validate(self) -> "TrackerConfig":
        try:
            self.model = get_spec(str(self.model)).name
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.sam not in SAM_SIZES:
            raise ConfigError(f"sam must be one of {', '.join(SAM_SIZES)}, got {self.sam!r}")
        if self.prompt not in PROMPTS:
            raise ConfigError(f"prompt must be one of {', '.join(PROMPTS)}, got {self.prompt!r}")
        if self.gate is False:  # YAML 1.1 reads a bare `gate: off` as false
            self.gate = "off"
        if self.gate not in GATES:
            raise ConfigError(f"gate must be one of {', '.join(GATES)}, got {self.gate!r}")
        if str(self.proposals) not in PROPOSAL_MODES:
            raise ConfigError(f"proposals must be one of {', '.join(PROPOSAL_MODES)}, got {self.proposals!r}")
        if self.sam != "none" and str(self.proposals) not in sam_specs.proposal_modes(self.sam):
            family = "SAM 2.1" if sam_specs.is_sam2(self.sam) else "vanilla SAM"
            raise ConfigError(f"proposals {self.proposals!r} need HQ-SAM; with {family} ({self.sam}) use one of "
                              f"{', '.join(sam_specs.proposal_modes(self.sam))}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if not 0.0 <= float(self.tau) <= 1.0:
            raise ConfigError(f"tau must lie in [0, 1], got {self.tau}")
        for name in ("long_max", "long_gap", "short_gap", "max_refine_failures"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.decode_batch) < 0:
            raise ConfigError(f"decode_batch must be >= 0, got {self.decode_batch}")
        if int(self.threads) < 0:
            raise ConfigError(f"threads must be >= 0 (0 = torch's default), got {self.threads}")
        if int(self.max_edge) < 0:
            raise ConfigError(f"max_edge must be >= 0, got {self.max_edge}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"log_level must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}")
        self.proposals = str(self.proposals)
        if self.sam == "none" and (self.cycle or self.redetect):
            flags = [flag for flag, on in (("--cycle", self.cycle), ("--redetect", self.redetect)) if on]
            raise ConfigError(f"{' and '.join(flags)} {'need' if len(flags) > 1 else 'needs'} HQ-SAM refinement, "
                              f"but --sam is none: choose an HQ-SAM size")
        return self

    @property
    def refine(self) -> bool:
        """Whether HQ-SAM runs: a size is chosen and something can use it.

        With tau >= 1 the exact gate accepts nothing (IoU > tau is impossible), so without
        re-detection refinement is off: no HQ-SAM load, no embedding. The smoothed IoU can
        exceed 1, and gate off ignores tau.
        """
        can_accept = float(self.tau) < 1.0 or self.gate != "exact"
        return self.sam != "none" and (can_accept or self.redetect)


FIELD_NAMES = {f.name for f in fields(TrackerConfig)}


def available_presets() -> List[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name_or_path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """Return the fields a preset sets. Accepts a bundled preset name or a YAML path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown preset {str(name_or_path)!r}: no file {path} "
            f"(bundled presets: {', '.join(available_presets())})"
        )
    with open(path, "r", encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"preset {path} must be a YAML mapping of option: value")
    unknown = sorted(set(data) - FIELD_NAMES)
    if unknown:
        raise ConfigError(f"preset {path} has unknown option(s): {', '.join(unknown)}")
    return data


def make_config(preset: Optional[str] = None, **overrides: Any) -> TrackerConfig:
    """Defaults, then the preset's values, then explicit overrides (None means 'not given')."""
    values: Dict[str, Any] = {}
    if preset:
        values.update(load_preset(preset))
    unknown = sorted(set(overrides) - FIELD_NAMES)
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    for option, checkpoint in CHECKPOINT_OF.items():
        # The preset's checkpoint is for the preset's model: another model means that model's
        # official file, unless a checkpoint is given along with it.
        if option in given and given[option] != values.get(option) and checkpoint not in given:
            values.pop(checkpoint, None)
    values.update(given)
    return TrackerConfig(**values).validate()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_tracker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --preset and one flag per TrackerConfig field; unspecified flags stay None."""
    parser.add_argument("--preset", help=f"named preset ({', '.join(available_presets())}) or a YAML file")
    docs = _field_docs()
    choices = {"sam": SAM_SIZES, "prompt": PROMPTS, "proposals": PROPOSAL_MODES, "amp": AMP_MODES, "gate": GATES}
    group = parser.add_argument_group("tracker options (override the preset)")
    for f in fields(TrackerConfig):
        default_text = f" [default: {f.default}]"
        kwargs: Dict[str, Any] = {"default": None, "dest": f.name, "help": docs.get(f.name, "") + default_text}
        if f.type in ("bool", bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float}.get(str(f.type), str)
            if f.name in choices:
                kwargs["choices"] = choices[f.name]
        group.add_argument(_flag(f.name), **kwargs)


def config_from_args(args: argparse.Namespace) -> TrackerConfig:
    overrides = {name: getattr(args, name, None) for name in FIELD_NAMES}
    return make_config(getattr(args, "preset", None), **overrides)


def _field_docs() -> Dict[str, str]:
    """Read the attribute docstrings under each field (the single source of option docs)."""
    import ast
    import inspect

    source = inspect.getsource(TrackerConfig)
    tree = ast.parse(source)
    docs: Dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr):
            value = getattr(following, "value", None)
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docs[node.target.id] = value.value  # type: ignore[attr-defined]
    return docs


def option_table() -> str:
    """Markdown table of all options (used to keep README.md in sync; tested)."""
    docs = _field_docs()
    rows = ["| flag | default | meaning |", "|---|---|---|"]
    for f in fields(TrackerConfig):
        rows.append(f"| `{_flag(f.name)}` | `{f.default}` | {docs.get(f.name, '')} |")
    return "\n".join(rows)
