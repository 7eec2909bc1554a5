"""The model table: which backbone, transformer and memory engine each model name means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

MAX_OBJECTS_PER_GROUP = 10  # identities in one ID bank (official checkpoints: 10 objects + background)
EMBED_DIM = 256

_LSTT_LAYERS = {"t": 1, "s": 2, "b": 3, "l": 3}  # B and L differ only in training, not in shape
_BACKBONE_DIMS = {
    "mobilenetv2": (24, 32, 96, 1280),
    "resnet50": (256, 512, 1024, 1024),
    "swin_base": (128, 256, 512, 512),
}
_NAME_PREFIX = {"mobilenetv2": "", "resnet50": "r50_", "swin_base": "swinb_"}
_OFFICIAL_PREFIX = {"mobilenetv2": "", "resnet50": "R50_", "swin_base": "SwinB_"}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    arch: str  # 'aot' or 'deaot'
    size: str  # 't', 's', 'b' or 'l'
    backbone: str  # 'mobilenetv2', 'resnet50' or 'swin_base'
    dm: bool  # decoupled (per-object) long-term memory with similarity eviction

    @property
    def lstt_layers(self) -> int:
        return _LSTT_LAYERS[self.size]

    @property
    def encoder_dims(self) -> Tuple[int, int, int, int]:
        """Channels of the 4x, 8x and 16x features and of the 16x top feature."""
        return _BACKBONE_DIMS[self.backbone]

    @property
    def align_corners(self) -> bool:
        # Swin models work on sizes divisible by 16, the others on 16k+1 with corner-aligned resizes.
        return self.backbone != "swin_base"

    @property
    def heads(self) -> int:
        return 8 if self.arch == "aot" else 1

    @property
    def official_name(self) -> str:
        """aot-benchmark's MODEL_NAME, also the stem of the official checkpoint files (e.g. SwinB_DeAOTL)."""
        arch = "AOT" if self.arch == "aot" else "DeAOT"
        return f"{_OFFICIAL_PREFIX[self.backbone]}{'DM_' if self.dm else ''}{arch}{self.size.upper()}"


def _make_table() -> Dict[str, ModelSpec]:
    table = {}
    for arch in ("aot", "deaot"):
        for dm in (False, True):
            for backbone, prefix in _NAME_PREFIX.items():
                for size in ("tsbl" if backbone == "mobilenetv2" else "l"):
                    name = f"{prefix}{'dm_' if dm else ''}{arch}{size}"
                    table[name] = ModelSpec(name, arch, size, backbone, dm)
    return table


MODEL_SPECS: Dict[str, ModelSpec] = _make_table()
MODEL_NAMES: Tuple[str, ...] = tuple(sorted(MODEL_SPECS))


def get_spec(name: str) -> ModelSpec:
    key = name.lower()
    if key not in MODEL_SPECS:
        raise ValueError(f"unknown DMAOT model {name!r}; known: {', '.join(MODEL_NAMES)}")
    return MODEL_SPECS[key]
