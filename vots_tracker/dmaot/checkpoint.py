"""Strict loading of official AOT/DeAOT checkpoints, and random checkpoints in the official layout.

aot-benchmark saves `{'state_dict': model.state_dict(), 'optimizer': ...}` (utils/checkpoint.py);
plain state dicts and DataParallel `module.` prefixes are accepted too. Every key must be
accounted for: mapped onto our model, or listed in `UNUSED_OFFICIAL_KEYS` and dropped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Dict, List, Mapping, Union

import torch

from ..errors import UserError, first_line
from ..media.staging import staged_file
from .backbones import official_only_buffers, official_to_ours, ours_to_official
from .models import DMAOTModel
from .specs import ModelSpec, get_spec

logger = logging.getLogger(__name__)

ENCODER = "encoder."

# Keys official files carry that inference never reads.
UNUSED_OFFICIAL_KEYS = (
    re.compile(r"^LSTT\.mask_token$"),  # AOT: a training-time masking token
    re.compile(r"^encoder\.layers\.\d+\.blocks\.\d+\.attn\.relative_position_index$"),  # Swin: recomputed
)


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file that cannot be read or does not match the model (one line for the user)."""


def official_key_to_ours(spec: ModelSpec, key: str) -> str:
    """Official (aot-benchmark) parameter name -> our module's name. Raises KeyError for unknown encoder keys."""
    if key.startswith(ENCODER):
        return ENCODER + official_to_ours(spec.backbone, key[len(ENCODER):])
    return key


def our_key_to_official(spec: ModelSpec, key: str) -> str:
    """Inverse of `official_key_to_ours`."""
    if key.startswith(ENCODER):
        return ENCODER + ours_to_official(spec.backbone, key[len(ENCODER):])
    return key


def is_unused_official_key(key: str) -> bool:
    return any(p.match(key) for p in UNUSED_OFFICIAL_KEYS)


def _short_list(keys: List[str], limit: int = 3) -> str:
    """A few examples of a long list: a wrong-model file mismatches hundreds of keys."""
    keys = sorted(keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _state_dict_of(obj, path: Path) -> Mapping[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            if isinstance(obj.get(wrapper), Mapping):
                obj = obj[wrapper]
                break
        if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
            return obj
    raise CheckpointError(f"{path}: not a model checkpoint (expected a state dict, or a dict holding 'state_dict')")


def load_checkpoint(model: DMAOTModel, path: Union[str, Path], device: Union[str, torch.device]) -> DMAOTModel:
    """Load official weights strictly into `model` and move it to `device`."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for unreadable files
        raise CheckpointError(f"cannot read DMAOT checkpoint {path}: {type(exc).__name__}: {first_line(exc)}") from exc
    state = _state_dict_of(obj, path)
    spec = model.spec
    mapped: Dict[str, torch.Tensor] = {}
    dropped, unknown = [], []
    for raw_key, value in state.items():
        key = raw_key[len("module."):] if raw_key.startswith("module.") else raw_key
        if is_unused_official_key(key):
            dropped.append(key)
            continue
        try:
            mapped[official_key_to_ours(spec, key)] = value
        except KeyError:
            unknown.append(key)
    expected = model.state_dict()
    missing = [k for k in expected if k not in mapped]
    unknown += [our_key_to_official(spec, k) for k in mapped if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_short_list([our_key_to_official(spec, k) for k in missing])}")
    if unknown:
        problems.append(f"unexpected keys ({len(unknown)}): {_short_list(unknown)}")
    wrong = [f"{our_key_to_official(spec, k)} {tuple(v.shape)} vs {tuple(expected[k].shape)}"
             for k, v in mapped.items() if k in expected and v.shape != expected[k].shape]
    if wrong:
        problems.append(f"shape mismatches ({len(wrong)}): {_short_list(wrong)}")
    if problems:
        raise CheckpointError(f"{path} does not fit model {spec.name}: " + "; ".join(problems))
    model.load_state_dict(mapped, strict=True)
    logger.debug("%s: %d tensors loaded, %d unused official keys dropped", path, len(mapped), len(dropped))
    return model.to(device)


def official_state_dict(model: DMAOTModel) -> Dict[str, torch.Tensor]:
    """Our weights under the official key names, with the official-only tensors added back."""
    spec = model.spec
    state = {our_key_to_official(spec, k): v for k, v in model.state_dict().items()}
    for name, value in official_only_buffers(spec.backbone, model.encoder).items():
        state[ENCODER + name] = value
    if spec.arch == "aot":
        state["LSTT.mask_token"] = torch.zeros(1, 1, model.encoder_projector.out_channels)  # never read
    return state


def write_random_checkpoint(model_name: str, path: Union[str, Path], seed: int = 0) -> Path:
    """Write a RANDOM-weight checkpoint of `model_name` laid out like the official files."""
    path = Path(path)
    spec = get_spec(model_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DMAOTModel(spec)
        for name, param in model.named_parameters():
            if torch.count_nonzero(param) == 0 and param.dim() > 1:  # zero-init tables: make them matter
                param.normal_(0.0, 0.02)
        state = official_state_dict(model)
    with staged_file(path) as tmp:
        torch.save({"state_dict": state}, tmp)
    logger.warning("wrote RANDOM %s weights to %s", spec.name, path)
    return path
