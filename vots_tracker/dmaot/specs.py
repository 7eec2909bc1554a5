"""The model table: which backbone, transformer and memory engine each model name means,
and the official checkpoint file each model loads.

Official files: aot-benchmark's ``MODEL_ZOO.md`` (yoxu515/aot-benchmark, Google Drive file
ids, PRE_YTB_DAV stage: trained on YouTube-VOS + DAVIS) and the file of the DMAOT code
that won VOTS 2023 (the default for ``swinb_[dm_]deaotl``). Google Drive publishes neither
sizes nor hashes. DM models differ from plain ones in the engine only, so they load the
plain model's file. The model-name grammar is this table's keys and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from ..checkpoint_files import CheckpointEntry, gdrive_urls

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
_BACKBONE_TITLE = {"mobilenetv2": "", "resnet50": "ResNet-50 ", "swin_base": "Swin-B "}

# Google Drive ids of the PRE_YTB_DAV files, by plain (non-DM) model name.
_PRE_YTB_DAV_GDRIVE = {
    "deaott": "1ThWIZQS03cYWx1EKNN8MIMnJS5eRowzr",
    "deaots": "1YwIAV5tBtn5spSFxKLBQBEQGwPHyQlHi",
    "deaotb": "1BHxsonnvJXylqHlZ1zJHHc-ymKyq-CFf",
    "deaotl": "18elNz_wi9JyVBcIUYKhRdL08MA-FqHD5",
    "r50_deaotl": "1QoChMkTVxdYZ_eBlZhK2acq9KMQZccPJ",
    "swinb_deaotl": "1g4E-F0RPOx9Nd6J7tU9AE1TjsouL4oZq",
    "aott": "1owPmwV4owd_ll6GuilzklqTyAd0ZvbCu",
    "aots": "1beU5E6Mdnr_pPrgjWvdWurKAIwJSz1xf",
    "aotb": "1hH-GOn4GAxHkV8ARcQzsUy8Ax6ndot-A",
    "aotl": "1L1N2hkSPqrwGgnW9GyFHuG59_EYYfTG4",
    "r50_aotl": "1qJDYn3Ibpquu4ffYoQmVjg1YCbr2JQep",
    "swinb_aotl": "192jCGQZdnuTsvX-CVra-KVZl2q1ZR0vW",
}
_WRITER = "vots_tracker.dmaot.checkpoint:write_random_checkpoint"

VOTS_DMAOT_FILE = CheckpointEntry(
    "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth", "dmaot", "swinb_deaotl",
    gdrive_urls("1KTJdR354BtFEGTrA_a4fcKUUHe2woxtn"),
    description="SwinB-DeAOTL trained on YTB+DAVIS+VIPSeg+MOSE+OVIS+LaSOT+GOT-10k (DMAOT, VOTS 2023)",
    gdrive_id="1KTJdR354BtFEGTrA_a4fcKUUHe2woxtn", writer=_WRITER,
)


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

    @property
    def plain_name(self) -> str:
        """The model name without ``dm_``: the model whose weights this one loads."""
        return self.name.replace("dm_", "")

    @property
    def checkpoint(self) -> CheckpointEntry:
        """The official file this model loads by default."""
        return DEFAULT_CHECKPOINTS[self.plain_name]


def _pre_ytb_dav_file(spec: ModelSpec) -> CheckpointEntry:
    arch = "AOT" if spec.arch == "aot" else "DeAOT"
    return CheckpointEntry(
        f"{spec.official_name}_PRE_YTB_DAV.pth", "dmaot", spec.name, gdrive_urls(_PRE_YTB_DAV_GDRIVE[spec.name]),
        description=f"{_BACKBONE_TITLE[spec.backbone]}{arch}-{spec.size.upper()} (aot-benchmark, YTB+DAVIS)",
        gdrive_id=_PRE_YTB_DAV_GDRIVE[spec.name], writer=_WRITER,
    )


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

_PRE_YTB_DAV_FILES: Dict[str, CheckpointEntry] = {name: _pre_ytb_dav_file(MODEL_SPECS[name]) for name in _PRE_YTB_DAV_GDRIVE}
# plain model name -> its default file: the VOTS 2023 file for Swin-B DeAOT-L
DEFAULT_CHECKPOINTS: Dict[str, CheckpointEntry] = {**_PRE_YTB_DAV_FILES, VOTS_DMAOT_FILE.model: VOTS_DMAOT_FILE}
# every official DMAOT/DeAOT/AOT file, the VOTS one first
CHECKPOINT_FILES: Tuple[CheckpointEntry, ...] = (VOTS_DMAOT_FILE,) + tuple(_PRE_YTB_DAV_FILES.values())


def get_spec(name: str) -> ModelSpec:
    key = name.lower()
    if key not in MODEL_SPECS:
        raise ValueError(f"unknown DMAOT model {name!r}; known: {', '.join(MODEL_NAMES)}")
    return MODEL_SPECS[key]
