"""SAM 2.1 (Meta's official ``sam2`` package, PyPI ``sam2==1.1.0``) as a batched mask proposer.

:class:`Sam21Refiner` is an :class:`~.hqsam.HQSamRefiner` with SAM 2.1's model inside: the same
prompts, proposal batching, gate, overlap resolution, cycle, re-detection and fault handling
(``refine.stage``, ``refine.faults``) run unchanged on it. What differs is here: the image
embedding (Hiera backbone, FPN neck, the ``no_mem_embed`` SAM2ImagePredictor adds, plus the two
high-resolution feature maps its decoder uses), the decoder call and the checkpoint format
(``{"model": state_dict}``). Numbers follow ``SAM2ImagePredictor`` exactly (tested): its own
transforms (the frame is stretched to 1024x1024, not padded), box corners labelled 2/3 in front
of any points, ``repeat_image`` for several objects, bilinear upsampling, threshold 0.

Proposals (decoder tokens: 0 = single-mask, 1-3 = multimask): ``all`` = the three multimask
masks (sam1, sam2, sam3), an int K = the first K of them, ``single`` = what the predictor
returns with ``multimask_output=False`` (token 0, or SAM 2's most stable multimask mask when
token 0 is unstable). SAM 2's object score (dropped by the predictor) is kept per object as
``Proposals.present`` (logit > 0); re-detection accepts a lost object only where it is positive.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..errors import UserError, first_line
from ..media.staging import staged_file
from .held import describe
from .hqsam import HQSamRefiner, Proposals
from .prompts import mask_logits
from .sam_specs import SAM2_PROPOSAL_MODES, SIZES, VANILLA_TOKEN_ORDER, is_sam2

logger = logging.getLogger(__name__)

INSTALL_HINT = "SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2==1.1.0 (`make install` does this)"
_TOKEN_INDEX = {"sam0": 0, "sam1": 1, "sam2": 2, "sam3": 3}


class Sam21CheckpointError(UserError):
    """A SAM 2.1 checkpoint file cannot be used; the message names the file and what it holds."""


class Sam2MissingError(UserError):
    """The sam2 package cannot be imported: only SAM 2.1 refiners need it."""


def _sam2_builder():
    try:
        from sam2.build_sam import build_sam2
    except ImportError as error:
        raise Sam2MissingError(f"SAM 2.1 refiners need the sam2 package, which cannot be imported "
                               f"({first_line(error)}): install it with {INSTALL_HINT}") from None
    return build_sam2


def config_name(size: str) -> str:
    """The sam2 package's hydra config of a size: configs/sam2.1/<size>.yaml."""
    if not is_sam2(size):
        raise UserError(f"unknown SAM 2.1 size {size!r} (known: {', '.join(s for s in SIZES if is_sam2(s))})")
    return f"configs/sam2.1/{size}.yaml"


def build_sam21(size: str):
    """SAM 2.1 of a size with random parameters (eval mode, CPU), as ``build_sam2`` builds it."""
    return _sam2_builder()(config_name(size), ckpt_path=None, device="cpu", mode="eval")


def _trunk_signature(state: dict) -> Tuple[int, int]:
    """(embedding width, number of blocks) of a state dict's Hiera trunk: tells the four sizes apart."""
    weight = state.get("image_encoder.trunk.patch_embed.proj.weight")
    blocks = {k.split(".")[3] for k in state if k.startswith("image_encoder.trunk.blocks.")}
    return (int(weight.shape[0]) if isinstance(weight, torch.Tensor) else 0), len(blocks)


def _held_size(state: dict, model_size: str, model_state: dict) -> str:
    """Which SAM 2.1 size a state dict holds, judged by its trunk (or 'another SAM 2 model')."""
    known = {"sam2.1_hiera_t": (96, 12), "sam2.1_hiera_s": (96, 16), "sam2.1_hiera_b+": (112, 24),
             "sam2.1_hiera_l": (144, 48)}
    known[model_size] = _trunk_signature(model_state)  # the built model's own trunk, whatever the table says
    signature = _trunk_signature(state)
    return next((f"SAM 2.1 {name}" for name, sig in known.items() if sig == signature), "another SAM 2 model")


def load_sam21(size: str, path: Union[str, os.PathLike], device: torch.device):
    """Build SAM 2.1 and load an official checkpoint strictly; every error is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise Sam21CheckpointError(f"SAM 2.1 checkpoint not found: {path}")
    builder_ok = _sam2_builder()  # a missing sam2 package is said before the file is read
    del builder_ok
    try:
        held = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise Sam21CheckpointError(f"cannot read SAM 2.1 checkpoint {path} (truncated or not a torch file?): "
                                   f"{first_line(error)}") from error
    state = held.get("model") if isinstance(held, dict) else None
    if not isinstance(state, dict) or not any(str(k).startswith("image_encoder.trunk.") for k in state):
        raise Sam21CheckpointError(f"{path} holds {describe(held)}, not a SAM 2.1 checkpoint "
                                   f'({{"model": state dict}}) for --sam {size}')
    model = build_sam21(size)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        raise Sam21CheckpointError(
            f"SAM 2.1 checkpoint {path} holds {_held_size(state, size, expected)}, not {size}: {len(missing)} "
            f"missing key(s) {missing[:2]}, {len(unexpected)} unexpected {unexpected[:2]}, {len(wrong)} of the "
            f"wrong shape {wrong[:2]}")
    model.load_state_dict(state, strict=True)
    return model.to(device)


def write_random_checkpoint(size: str, path: Union[str, os.PathLike], seed: int = 0) -> Path:
    """Write a RANDOM-init SAM 2.1 in the official format, {"model": state_dict} (tests and smoke runs)."""
    path = Path(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_sam21(size)
    with staged_file(path) as tmp:
        torch.save({"model": model.state_dict()}, tmp)
    logger.warning("wrote RANDOM %s SAM 2.1 weights to %s", size, path)
    return path


def proposal_tokens(mode: Union[str, int]) -> Tuple[str, ...]:
    """Names of the proposals a --proposals mode yields with SAM 2.1, in gate order."""
    text = str(mode)
    if text == "all":
        return VANILLA_TOKEN_ORDER
    if text == "single":
        return ("single",)
    if text.isdigit() and 1 <= int(text) <= len(VANILLA_TOKEN_ORDER):
        return VANILLA_TOKEN_ORDER[:int(text)]
    raise UserError(f"proposals with SAM 2.1 must be one of {', '.join(SAM2_PROPOSAL_MODES)}, got {mode!r}")


@dataclass
class Sam21Embedding:
    """What SAM 2.1's decoder needs from a frame, computed once and shared by all objects."""

    features: torch.Tensor  # (1, 256, 64, 64) image embedding (no_mem_embed added, as the predictor does)
    high_res: List[torch.Tensor]  # [(1, 32, 256, 256), (1, 64, 128, 128)]
    original_size: Tuple[int, int]  # frame (H, W)


class Sam21Refiner(HQSamRefiner):
    """A loaded SAM 2.1 and how to prompt it; holds no per-sequence state."""

    def __init__(self, size: str, checkpoint, device: torch.device, prompt: str = "box",
                 proposals: Union[str, int] = "all", amp: Optional[str] = None, decode_batch: int = 0):
        self.size = size
        self.device = torch.device(device)
        self.vanilla = True  # no HQ token
        self.names = proposal_tokens(proposals)
        self.model = load_sam21(size, checkpoint, self.device)
        from sam2.utils.transforms import SAM2Transforms

        with warnings.catch_warnings():  # sam2 scripts its transforms; torch deprecates jit.script: harmless
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
            self.transforms = SAM2Transforms(resolution=self.model.image_size, mask_threshold=0.0)
        self.prompt = prompt
        self.amp = amp
        # As for HQ-SAM: one call on CUDA; object by object on a CPU, where one big batch costs more
        # CPU time (16 objects: 3.23 s vs 2.08 s with OpenMP threads not spinning; BENCHMARKS.md).
        self.decode_batch = decode_batch or (0 if self.device.type == "cuda" else 1)

    def tokens_for(self, mode: Union[str, int]) -> Tuple[str, ...]:
        return proposal_tokens(mode)

    def embed(self, frame: np.ndarray) -> Sam21Embedding:
        """Image embedding of an HxWx3 uint8 RGB frame (safe to run in a worker thread)."""
        model = self.model
        image = self.transforms(frame)[None].to(self.device)  # the predictor's own transforms, on the host
        with self._autocast():
            backbone = model.forward_image(image)
            _, feats, _, _ = model._prepare_backbone_features(backbone)
            if model.directly_add_no_mem_embed:
                feats[-1] = feats[-1] + model.no_mem_embed
        sides = [model.image_size // stride for stride in (4, 8, 16)]
        maps = [feat.permute(1, 2, 0).reshape(1, -1, side, side) for feat, side in zip(feats, sides)]
        return Sam21Embedding(maps[-1], maps[:-1], tuple(frame.shape[:2]))

    def _decode(self, emb: Sam21Embedding, boxes: np.ndarray, coarse: Optional[np.ndarray], prompt: str,
                name_sets: Sequence[Tuple[str, ...]]) -> List[Proposals]:
        low_res, iou, present = self._decoder_outputs(emb, boxes, coarse, prompt)
        out = []
        for names in name_sets:
            logits, scores = self._select(low_res, iou, names)
            masks = self.transforms.postprocess_masks(logits, emb.original_size) > 0.0
            out.append(Proposals(masks.cpu().numpy(), scores.cpu().numpy(), names, present.cpu().numpy()))
        return out

    def decode_logits(self, emb: Sam21Embedding, boxes: np.ndarray, coarse: Optional[np.ndarray] = None,
                      prompt: str = "box") -> Tuple[torch.Tensor, torch.Tensor]:
        """The proposals' low-resolution logits (N, K, 256, 256) and scores (N, K), one decoder call."""
        low_res, iou, _ = self._decoder_outputs(emb, boxes, coarse, prompt)
        return self._select(low_res, iou, self.names)

    def _decoder_outputs(self, emb: Sam21Embedding, boxes: np.ndarray, coarse: Optional[np.ndarray],
                         prompt: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every token's low-resolution logits (N, 4, 256, 256), IoU (N, 4) and object-present flags (N,)."""
        points, mask_input = self._prompts(emb, boxes, coarse, prompt)
        model = self.model
        with self._autocast():
            sparse, dense = model.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)
            low_res, iou, _, object_score = model.sam_mask_decoder.predict_masks(
                image_embeddings=emb.features, image_pe=model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                repeat_image=points[0].shape[0] > 1, high_res_features=emb.high_res)
        return low_res.float(), iou.float(), object_score.float()[:, 0] > 0

    def _prompts(self, emb: Sam21Embedding, boxes: np.ndarray, coarse: Optional[np.ndarray], prompt: str):
        """(points, labels) with the box corners first (labels 2, 3), and (N, 1, 256, 256) mask logits or None."""
        height, width = emb.original_size
        scale = torch.tensor([width, height], dtype=torch.float, device=self.device)
        corners = torch.as_tensor(np.asarray(boxes, np.float32), device=self.device).reshape(-1, 2, 2)
        coords = corners / scale * self.model.image_size  # the predictor's transform_boxes(normalize=True)
        labels = torch.tensor([[2, 3]], dtype=torch.int, device=self.device).repeat(coords.shape[0], 1)
        if prompt == "box+points":
            extra = np.stack([self._point(mask, box) for mask, box in zip(coarse, boxes)])[:, None, :]
            extra = torch.as_tensor(extra, dtype=torch.float, device=self.device) / scale * self.model.image_size
            coords = torch.cat([coords, extra], dim=1)
            labels = torch.cat([labels, torch.ones((coords.shape[0], 1), dtype=torch.int, device=self.device)], dim=1)
        mask_input = None
        if prompt == "box+mask":
            # The frame is stretched to the square input, so the low-res mask is the frame's mask resized.
            side = self.model.image_size
            logits = np.stack([mask_logits(mask, (side, side), encoder_size=side) for mask in coarse])[:, None]
            mask_input = torch.as_tensor(logits, dtype=torch.float, device=self.device)  # 4-D: one per object
        return (coords, labels), mask_input

    @staticmethod
    def _point(mask, box):
        from .hqsam import _point_or_box_centre

        return _point_or_box_centre(mask, box)

    def _select(self, low_res: torch.Tensor, iou: torch.Tensor, names: Tuple[str, ...]):
        """One proposal set's logits and scores from every token's."""
        if names == ("single",):
            decoder = self.model.sam_mask_decoder
            if decoder.dynamic_multimask_via_stability:
                return decoder._dynamic_multimask_via_stability(low_res, iou)
            return low_res[:, 0:1], iou[:, 0:1]
        index = [_TOKEN_INDEX[name] for name in names]
        return low_res[:, index], iou[:, index]


__all__ = ["Sam21CheckpointError", "Sam21Embedding", "Sam21Refiner", "Sam2MissingError", "build_sam21",
           "config_name", "load_sam21", "proposal_tokens", "write_random_checkpoint"]
