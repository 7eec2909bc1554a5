"""The HQ-SAM and SAM table: model sizes, their official checkpoint files, prompt kinds and decoder tokens.

HQ-SAM (``segment-anything-hq``): sizes vit_tiny, vit_b, vit_l, vit_h; official files in the
Hugging Face repository ``lkeab/hq-sam``; sizes and sha256 are those of the Git LFS pointers in
the upload commits (8a94b5e vit_b, 519b37f vit_l, 67ab824 vit_h, a3a77cd vit_tiny).
Vanilla SAM (``segment-anything``, kind ``sam``): sizes sam_vit_b, sam_vit_l, sam_vit_h (the
published ablation rows SAM-B/L/H); the files Meta publishes, whose names carry the first six
hex digits of their md5; size and sha256 as listed by several independent download scripts.
SAM 2.1 (``sam2==1.1.0``, Meta's facebookresearch/sam2 code, kind ``sam2``): sizes
sam2.1_hiera_t|s|b+|l, named after the package's configs ``configs/sam2.1/<size>.yaml``; files
from Meta's SAM 2.1 location (the one the sam2 repository's ``checkpoints/download_ckpts.sh``
uses), with the Hugging Face repositories its ``build_sam.py`` names as the second source. Meta
publishes sizes but no hashes: the registry records the sha256 of the first download and refuses
a later mismatch (``CheckpointEntry.pin_sha256``).
Torch-free, so the config and the weights registry can read it.
"""

from __future__ import annotations

from typing import Dict, Tuple

from ..checkpoint_files import CheckpointEntry

HF_BASE = "https://huggingface.co/lkeab/hq-sam/resolve/main/"
SAM_BASE = "https://dl.fbaipublicfiles.com/segment_anything/"
_WRITER = "vots_tracker.refine.hqsam:write_random_checkpoint"
VANILLA_KIND = "sam"
SAM2_KIND = "sam2"
SAM2_BASE = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
SAM2_HF = "https://huggingface.co/facebook/sam2.1-hiera-{}/resolve/main/"
_SAM2_WRITER = "vots_tracker.refine.sam21:write_random_checkpoint"


def _hf_file(size: str, nbytes: int, sha256: str, description: str) -> CheckpointEntry:
    name = f"sam_hq_{size}.pth"
    return CheckpointEntry(name, "hqsam", size, (HF_BASE + name,), nbytes, sha256, description, writer=_WRITER)


def _sam_file(size: str, name: str, nbytes: int, sha256: str, description: str) -> CheckpointEntry:
    return CheckpointEntry(name, VANILLA_KIND, size, (SAM_BASE + name,), nbytes, sha256, description, writer=_WRITER)


def _sam2_file(size: str, variant: str, nbytes: int, description: str) -> CheckpointEntry:
    name = f"sam2.1_hiera_{variant.replace('-', '_')}.pt"
    return CheckpointEntry(name, SAM2_KIND, size, (SAM2_BASE + name, SAM2_HF.format(variant) + name), nbytes, None,
                           description, writer=_SAM2_WRITER, pin_sha256=True)


CHECKPOINT_FILES: Tuple[CheckpointEntry, ...] = (
    _hf_file("vit_tiny", 42526881, "0f32c075ccdd870ae54db2f7630e7a0878ede5a2b06d05d6fe02c65a82fb7196",
             "Light HQ-SAM (TinyViT encoder)"),
    _hf_file("vit_b", 379335069, "14a9d662cd6f5a9c2dba6d40ab0058d88d287e4a18fd6fdc6ad5fb1a3fdeaa57", "HQ-SAM ViT-B"),
    _hf_file("vit_l", 1254865805, "e1a6c385d62bf005ded91a54d5ec55c985cfc4103ef89c08d90f39f04934c343", "HQ-SAM ViT-L"),
    _hf_file("vit_h", 2570940653, "a7ac14a085326d9fa6199c8c698c4f0e7280afdbb974d2c4660ec60877b45e35", "HQ-SAM ViT-H"),
    _sam_file("sam_vit_b", "sam_vit_b_01ec64.pth", 375042383,
              "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", "SAM ViT-B (vanilla)"),
    _sam_file("sam_vit_l", "sam_vit_l_0b3195.pth", 1249524607,
              "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", "SAM ViT-L (vanilla)"),
    _sam_file("sam_vit_h", "sam_vit_h_4b8939.pth", 2564550879,
              "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", "SAM ViT-H (vanilla)"),
    _sam2_file("sam2.1_hiera_t", "tiny", 156008466, "SAM 2.1 Hiera-T"),
    _sam2_file("sam2.1_hiera_s", "small", 184416285, "SAM 2.1 Hiera-S"),
    _sam2_file("sam2.1_hiera_b+", "base-plus", 323606802, "SAM 2.1 Hiera-B+"),
    _sam2_file("sam2.1_hiera_l", "large", 898083611, "SAM 2.1 Hiera-L"),
)
# size -> its official file; the HQ-SAM sizes are the keys of segment_anything_hq's sam_model_registry,
# the vanilla ones "sam_" + a key of segment_anything's, the SAM 2.1 ones the names of sam2's configs
DEFAULT_CHECKPOINTS: Dict[str, CheckpointEntry] = {entry.model: entry for entry in CHECKPOINT_FILES}
SIZES: Tuple[str, ...] = tuple(DEFAULT_CHECKPOINTS)

# box: SAM's inclusive mask box (first to last pixel index); box-edges ends one pixel past the mask;
# box-inclusive is box's former name, kept so that older command lines still run.
PROMPTS: Tuple[str, ...] = ("box", "box+mask", "box+points", "box-edges", "box-inclusive")
# Proposals in gate order (first wins ties); see refine.hqsam for what each token is.
TOKEN_ORDER: Tuple[str, ...] = ("hq", "sam1", "sam2", "sam3")
PROPOSAL_MODES: Tuple[str, ...] = ("all", "hq", "single") + tuple(str(k) for k in range(1, len(TOKEN_ORDER) + 1))
# Vanilla SAM has no HQ token: its proposals are the multimask tokens, and hq / single do not exist.
VANILLA_TOKEN_ORDER: Tuple[str, ...] = TOKEN_ORDER[1:]
VANILLA_PROPOSAL_MODES: Tuple[str, ...] = ("all",) + tuple(str(k) for k in range(1, len(VANILLA_TOKEN_ORDER) + 1))
# SAM 2.1 has no HQ token either; "single" is its one mask (multimask_output=False, with SAM 2's
# fallback to the most stable multimask mask when the single one is unstable).
SAM2_PROPOSAL_MODES: Tuple[str, ...] = VANILLA_PROPOSAL_MODES + ("single",)


def is_vanilla(size: str) -> bool:
    """Whether a size names vanilla SAM (segment-anything) rather than HQ-SAM."""
    return size in DEFAULT_CHECKPOINTS and DEFAULT_CHECKPOINTS[size].kind == VANILLA_KIND


def is_sam2(size: str) -> bool:
    """Whether a size names SAM 2.1 (the sam2 package)."""
    return size in DEFAULT_CHECKPOINTS and DEFAULT_CHECKPOINTS[size].kind == SAM2_KIND


def proposal_modes(size: str) -> Tuple[str, ...]:
    """The --proposals values a SAM size takes."""
    if is_sam2(size):
        return SAM2_PROPOSAL_MODES
    return VANILLA_PROPOSAL_MODES if is_vanilla(size) else PROPOSAL_MODES


def architecture(size: str) -> str:
    """The key of the family's own sam_model_registry: sam_vit_b -> vit_b."""
    return size[len(VANILLA_KIND) + 1:] if is_vanilla(size) else size
