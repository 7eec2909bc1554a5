"""HQ-SAM (the official ``segment-anything-hq`` package), or vanilla SAM (the official
``segment-anything`` package, sizes ``sam_vit_b|l|h``), as a batched mask proposer.

The image embedding (and HQ-SAM's early-layer feature fusion, which depends only
on the image) is computed once per frame by :meth:`HQSamRefiner.embed`; all
objects' prompts are then decoded in ONE mask-decoder call by
:meth:`HQSamRefiner.propose`, which exposes every output token rather than the
single mask ``SamPredictor`` returns.

Proposal modes (decoder tokens: 0 = SAM single-mask, 1-3 = SAM multimask, 4 = HQ):
  - ``all`` (default): the HQ mask and SAM's three multimask masks, K = 4;
  - ``hq``: the HQ mask alone, K = 1;
  - ``single``: exactly what ``SamPredictor.predict_torch(multimask_output=True)``
    returns (the best SAM multimask token by predicted IoU, plus the HQ logits),
    K = 1: the original research scripts' one candidate;
  - an int K in 1..4: the first K of (hq, sam1, sam2, sam3); 4 equals ``all``.
The HQ token has no IoU head of its own; its score is the single-mask token's
predicted IoU (both describe the whole prompted object).
Vanilla SAM has no HQ token: ``all`` is its three multimask masks (sam1, sam2, sam3), an
int K the first K of them (K = 1: the original no-gate runner's mask); ``hq`` and
``single`` are HQ-SAM's only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..runtime.accel import upload
from ..errors import UserError, first_line
from ..media.staging import staged_file
from .held import describe
from .prompts import interior_point, mask_logits
from .sam_specs import SIZES, TOKEN_ORDER, VANILLA_PROPOSAL_MODES, VANILLA_TOKEN_ORDER, architecture, is_vanilla

logger = logging.getLogger(__name__)

# segment_anything_hq imports timm's deprecated module paths and re-registers timm's TinyViT
# names: known, harmless, and otherwise printed on every run. Silence exactly those.
warnings.filterwarnings("ignore", message=r"Importing from timm\.models\.(layers|registry) is deprecated",
                        category=FutureWarning)
warnings.filterwarnings("ignore", message=r"Overwriting tiny_vit_\w+ in registry with segment_anything_hq\.",
                        category=UserWarning)

_TOKEN_INDEX = {"sam0": 0, "sam1": 1, "sam2": 2, "sam3": 3, "hq": 4}


def _family(size: str) -> str:
    return "SAM" if is_vanilla(size) else "HQ-SAM"


class HQSamCheckpointError(UserError):
    """An HQ-SAM checkpoint file cannot be used; the message names the file."""


def build_sam(size: str):
    """The HQ-SAM (or vanilla SAM) model of a given size with random parameters (eval mode)."""
    if size not in SIZES:
        raise UserError(f"unknown SAM size {size!r} (known: {', '.join(SIZES)})")
    if is_vanilla(size):
        from segment_anything import sam_model_registry

        return sam_model_registry[architecture(size)](checkpoint=None).eval()
    from segment_anything_hq import sam_model_registry

    return sam_model_registry[size](checkpoint=None).eval()


def load_sam(size: str, path: Union[str, os.PathLike], device: torch.device):
    """Build HQ-SAM (or SAM) and load an official checkpoint strictly; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise HQSamCheckpointError(f"{_family(size)} checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise HQSamCheckpointError(f"cannot read {_family(size)} checkpoint {path}: {first_line(error)}") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HQSamCheckpointError(f"{_family(size)} checkpoint {path} holds {describe(state)}, "
                                   f"not a plain state dict of tensors for --sam {size}")
    model = build_sam(size)
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise HQSamCheckpointError(
            f"{_family(size)} checkpoint {path} does not match {size}: "
            f"{len(missing)} missing key(s) {missing[:3]}, {len(unexpected)} unexpected key(s) {unexpected[:3]}"
        )
    wrong = sorted(k for k, v in model.state_dict().items() if tuple(state[k].shape) != tuple(v.shape))
    if wrong:
        raise HQSamCheckpointError(f"{_family(size)} checkpoint {path} does not match {size}: "
                                   f"{len(wrong)} tensor(s) of the wrong shape {wrong[:3]}")
    model.load_state_dict(state, strict=True)
    return model.to(device)


def write_random_checkpoint(size: str, path: Union[str, os.PathLike], seed: int = 0) -> Path:
    """Write a RANDOM-init HQ-SAM (or SAM) state dict in the official format (for tests and smoke runs)."""
    path = Path(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_sam(size)
    with staged_file(path) as tmp:
        torch.save(model.state_dict(), tmp)
    logger.warning("wrote RANDOM %s %s weights to %s", size, _family(size), path)
    return path


def proposal_tokens(mode: Union[str, int], vanilla: bool = False) -> Tuple[str, ...]:
    """Names of the proposals a mode yields, in gate order (first wins ties); `vanilla`: SAM's tokens."""
    if isinstance(mode, str) and mode.isdigit():
        mode = int(mode)
    if vanilla:  # no HQ token
        if mode == "all":
            return VANILLA_TOKEN_ORDER
        if isinstance(mode, int) and 1 <= mode <= len(VANILLA_TOKEN_ORDER):
            return VANILLA_TOKEN_ORDER[:mode]
        raise UserError(f"proposals with vanilla SAM must be one of {', '.join(VANILLA_PROPOSAL_MODES)}, got {mode!r}")
    if mode == "all":
        return TOKEN_ORDER
    if mode == "hq":
        return ("hq",)
    if mode == "single":
        return ("single",)
    if isinstance(mode, int) and 1 <= mode <= len(TOKEN_ORDER):
        return TOKEN_ORDER[:mode]
    raise UserError(f"proposals must be all, hq, single or 1..4, got {mode!r}")


@dataclass
class FrameEmbedding:
    """Everything HQ-SAM needs from a frame, computed once and shared by all objects."""

    features: torch.Tensor  # (1, 256, 64, 64) image embedding
    hq_features: Optional[torch.Tensor]  # (1, 32, 256, 256) HQ fusion of the embedding and early ViT features; None for SAM
    input_size: Tuple[int, int]  # resized image (longest side 1024), before padding
    original_size: Tuple[int, int]  # frame (H, W)


@dataclass
class Proposals:
    masks: np.ndarray  # (N, K, H, W) bool at frame size
    scores: np.ndarray  # (N, K) predicted IoU
    names: Tuple[str, ...]  # (K,)
    present: Optional[np.ndarray] = None  # (N,) the model's own object-present decision (SAM 2.1); None: none


class HQSamRefiner:
    """A loaded HQ-SAM (or vanilla SAM) and how to prompt it; holds no per-sequence state."""

    pinned_uploads = False  # frames to CUDA from page-locked memory (vots_tracker.runtime.accel; measured by gpu_check)

    def __init__(self, size: str, checkpoint, device: torch.device, prompt: str = "box",
                 proposals: Union[str, int] = "all", amp: Optional[str] = None, decode_batch: int = 0):
        """Options as ``components.component_options`` maps them from a validated TrackerConfig."""
        from segment_anything_hq.utils.transforms import ResizeLongestSide

        self.size = size
        self.device = torch.device(device)
        self.vanilla = is_vanilla(size)
        self.model = load_sam(size, checkpoint, self.device)
        self.prompt = prompt
        self.names = proposal_tokens(proposals, self.vanilla)
        self.amp = amp
        # The mask decoder's per-object work is fixed; batching saves kernel launches on a GPU,
        # but on a CPU large batches are memory-bound and slower than object by object
        # (benchmarks/refine_speed.py), so auto means one call on CUDA, one object per call on CPU.
        self.decode_batch = decode_batch or (0 if self.device.type == "cuda" else 1)
        self.transform = ResizeLongestSide(self.model.image_encoder.img_size)

    def tokens_for(self, mode: Union[str, int]) -> Tuple[str, ...]:
        """The proposals a --proposals mode yields with this refiner (:func:`proposal_tokens`)."""
        return proposal_tokens(mode, self.vanilla)

    def _autocast(self):
        if self.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16 if self.amp == "bf16" else torch.float16)
        return contextlib.nullcontext()

    def embed(self, frame: np.ndarray) -> FrameEmbedding:
        """Image embedding of an HxWx3 uint8 RGB frame (safe to run in a worker thread)."""
        resized = self.transform.apply_image(frame)  # the predictor's own resize, for identical numbers
        image = upload(resized, self.device, self.pinned_uploads).permute(2, 0, 1).contiguous()[None]
        decoder = self.model.mask_decoder
        with self._autocast():
            encoded = self.model.image_encoder(self.model.preprocess(image))
            if self.vanilla:
                features, hq_features = encoded, None
            else:
                features, interm = encoded
                hq_features = decoder.embedding_encoder(features) + decoder.compress_vit_feat(interm[0].permute(0, 3, 1, 2))
        return FrameEmbedding(features, hq_features, tuple(resized.shape[:2]), tuple(frame.shape[:2]))

    def propose(self, emb: FrameEmbedding, boxes: np.ndarray, coarse: Optional[np.ndarray] = None,
                prompt: Optional[str] = None) -> Proposals:
        """Decode K proposals for N objects: boxes (N,4) xyxy in frame pixels.

        All objects go through the mask decoder in one batch, or in batches of `decode_batch`.
        """
        return self.propose_sets(emb, boxes, coarse, prompt, (self.names,))[0]

    def propose_sets(self, emb: FrameEmbedding, boxes: np.ndarray, coarse: Optional[np.ndarray] = None,
                     prompt: Optional[str] = None, name_sets: Sequence[Tuple[str, ...]] = ()) -> List[Proposals]:
        """Like :meth:`propose`, for several proposal sets (:func:`proposal_tokens`) at once.

        The decoder computes every token in one call whatever the set, so each set is selected
        from the same decoder output: a set's proposals are bitwise those of a refiner built
        for that set alone (what `vots-tracker sweep` relies on).
        """
        prompt = prompt or self.prompt
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        count = boxes.shape[0]
        height, width = emb.original_size
        if count == 0:
            return [Proposals(np.zeros((0, len(names), height, width), bool), np.zeros((0, len(names))), names)
                    for names in name_sets]
        if prompt in ("box+mask", "box+points") and (coarse is None or len(coarse) != count):
            raise ValueError(f"prompt {prompt!r} needs one coarse mask per box")
        step = self.decode_batch or count
        if step >= count:
            return self._decode(emb, boxes, coarse, prompt, name_sets)
        parts = [self._decode(emb, boxes[s:s + step], None if coarse is None else coarse[s:s + step], prompt, name_sets)
                 for s in range(0, count, step)]
        return [Proposals(np.concatenate([p[n].masks for p in parts]), np.concatenate([p[n].scores for p in parts]),
                          names, None if parts[0][n].present is None else np.concatenate([p[n].present for p in parts]))
                for n, names in enumerate(name_sets)]

    def _decode(self, emb: FrameEmbedding, boxes: np.ndarray, coarse: Optional[np.ndarray], prompt: str,
                name_sets: Sequence[Tuple[str, ...]]) -> List[Proposals]:
        """One mask-decoder call for all the given boxes; each proposal set selected from its output."""
        low_res, iou = self._decoder_outputs(emb, boxes, coarse, prompt)
        out = []
        for names in name_sets:
            selected, scores = _select(low_res, iou, names)
            masks = self.model.postprocess_masks(selected, emb.input_size, emb.original_size) > self.model.mask_threshold
            out.append(Proposals(masks.cpu().numpy(), scores.cpu().numpy(), names))
        return out

    def decode_logits(self, emb: FrameEmbedding, boxes: np.ndarray, coarse: Optional[np.ndarray] = None,
                      prompt: str = "box") -> Tuple[torch.Tensor, torch.Tensor]:
        """The proposals' low-resolution logits (N, K, 256, 256) and scores (N, K), one decoder call."""
        return _select(*self._decoder_outputs(emb, boxes, coarse, prompt), self.names)

    def _decoder_outputs(self, emb: FrameEmbedding, boxes: np.ndarray, coarse: Optional[np.ndarray],
                         prompt: str) -> Tuple[torch.Tensor, torch.Tensor]:
        """Every decoder token's low-resolution logits and predicted IoU (float32), one decoder call."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        count = boxes.shape[0]
        # float32 torch path, as SamPredictor users call it (apply_boxes computes in float64)
        box_input = self.transform.apply_boxes_torch(torch.as_tensor(boxes, device=self.device), emb.original_size)
        points = None
        if prompt == "box+points":
            coords = np.stack([_point_or_box_centre(mask, box) for mask, box in zip(coarse, boxes)])[:, None, :]
            coords = torch.as_tensor(self.transform.apply_coords(coords, emb.original_size), device=self.device)
            points = (coords, torch.ones((count, 1), dtype=torch.int, device=self.device))
        mask_input = None
        if prompt == "box+mask":
            logits = np.stack([mask_logits(mask, emb.input_size) for mask in coarse])[:, None]
            mask_input = torch.as_tensor(logits, device=self.device)
        with self._autocast():
            sparse, dense = self.model.prompt_encoder(points=points, boxes=box_input, masks=mask_input)
            low_res, iou = self.model.mask_decoder.predict_masks(
                image_embeddings=emb.features,
                image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                **({} if self.vanilla else {"hq_features": emb.hq_features}),
            )
        return low_res.float(), iou.float()


def _select(low_res: torch.Tensor, iou: torch.Tensor, names: Tuple[str, ...]) -> Tuple[torch.Tensor, torch.Tensor]:
    """The low-resolution logits and scores of one proposal set, from all decoder tokens."""
    if names == ("single",):
        best = torch.argmax(iou[:, 1:4], dim=1) + 1
        rows = torch.arange(low_res.shape[0], device=low_res.device)
        masks = low_res[rows, best] + low_res[:, _TOKEN_INDEX["hq"]]
        return masks[:, None], iou[rows, best][:, None]
    index = [_TOKEN_INDEX[name] for name in names]
    # The HQ token has no IoU head; use the single-mask token's score (module docstring).
    score_index = [0 if i == _TOKEN_INDEX["hq"] else i for i in index]
    return low_res[:, index], iou[:, score_index]


def _point_or_box_centre(mask: Optional[np.ndarray], box: np.ndarray) -> np.ndarray:
    point = interior_point(mask) if mask is not None else None
    if point is None:
        point = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float32)
    return point


__all__: List[str] = [
    "FrameEmbedding", "HQSamCheckpointError", "HQSamRefiner", "Proposals", "SIZES",
    "build_sam", "load_sam", "proposal_tokens", "write_random_checkpoint",
]
