"""What a loaded checkpoint holds, in words, for one-line errors about the wrong file.

Recognised by key names only (no model is built): a SAM 2 checkpoint (``{"model": ...}`` with
Hiera ``image_encoder.trunk.*`` keys), an HQ-SAM or a vanilla SAM state dict, a DMAOT/AOT file.
"""

from __future__ import annotations

from typing import Any


def describe(obj: Any) -> str:
    """A short phrase naming what a ``torch.load`` result holds, e.g. 'an HQ-SAM state dict'."""
    if not isinstance(obj, dict):
        return f"a {type(obj).__name__}, not a dict"
    inner = obj.get("model")
    if isinstance(inner, dict):
        if any(str(k).startswith("image_encoder.trunk.") for k in inner):
            return 'a SAM 2 checkpoint ({"model": state dict})'
        return f'a {{"model": ...}} checkpoint of another model ({_first_keys(inner)})'
    keys = [str(k) for k in obj]
    if any(k.startswith("mask_decoder.hf_") for k in keys):
        return "an HQ-SAM state dict"
    if any(k.startswith("image_encoder.") for k in keys) and any(k.startswith("mask_decoder.") for k in keys):
        return "a vanilla SAM state dict"
    if "state_dict" in obj or any(k.startswith(("encoder.", "LSTT.", "module.")) for k in keys):
        return "a DMAOT/AOT checkpoint"
    return f"a dict with keys {_first_keys(obj)}"


def _first_keys(mapping: dict) -> str:
    keys = [str(k) for k in list(mapping)[:3]]
    return ", ".join(keys) + (", ..." if len(mapping) > 3 else "") if keys else "no keys"
