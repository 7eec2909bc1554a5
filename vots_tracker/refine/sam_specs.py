"""The HQ-SAM table: model sizes, their official checkpoint files, prompt kinds and decoder tokens.

Official files: Hugging Face repository ``lkeab/hq-sam``; sizes and sha256 are those of
the Git LFS pointers in the upload commits (8a94b5e vit_b, 519b37f vit_l, 67ab824 vit_h,
a3a77cd vit_tiny). Torch-free, so the config and the weights registry can read it.
"""

from __future__ import annotations

from typing import Dict, Tuple

from ..checkpoint_files import CheckpointEntry

HF_BASE = "https://huggingface.co/lkeab/hq-sam/resolve/main/"
_WRITER = "vots_tracker.refine.hqsam:write_random_checkpoint"


def _hf_file(size: str, nbytes: int, sha256: str, description: str) -> CheckpointEntry:
    name = f"sam_hq_{size}.pth"
    return CheckpointEntry(name, "hqsam", size, (HF_BASE + name,), nbytes, sha256, description, writer=_WRITER)


CHECKPOINT_FILES: Tuple[CheckpointEntry, ...] = (
    _hf_file("vit_tiny", 42526881, "0f32c075ccdd870ae54db2f7630e7a0878ede5a2b06d05d6fe02c65a82fb7196",
             "Light HQ-SAM (TinyViT encoder)"),
    _hf_file("vit_b", 379335069, "14a9d662cd6f5a9c2dba6d40ab0058d88d287e4a18fd6fdc6ad5fb1a3fdeaa57", "HQ-SAM ViT-B"),
    _hf_file("vit_l", 1254865805, "e1a6c385d62bf005ded91a54d5ec55c985cfc4103ef89c08d90f39f04934c343", "HQ-SAM ViT-L"),
    _hf_file("vit_h", 2570940653, "a7ac14a085326d9fa6199c8c698c4f0e7280afdbb974d2c4660ec60877b45e35", "HQ-SAM ViT-H"),
)
# size -> its official file; the sizes are the keys of segment_anything_hq's sam_model_registry
DEFAULT_CHECKPOINTS: Dict[str, CheckpointEntry] = {entry.model: entry for entry in CHECKPOINT_FILES}
SIZES: Tuple[str, ...] = tuple(DEFAULT_CHECKPOINTS)

PROMPTS: Tuple[str, ...] = ("box", "box+mask", "box+points")
# Proposals in gate order (first wins ties); see refine.hqsam for what each token is.
TOKEN_ORDER: Tuple[str, ...] = ("hq", "sam1", "sam2", "sam3")
PROPOSAL_MODES: Tuple[str, ...] = ("all", "hq", "single") + tuple(str(k) for k in range(1, len(TOKEN_ORDER) + 1))
