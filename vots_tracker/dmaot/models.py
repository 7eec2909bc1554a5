"""AOT / DeAOT networks for inference. Module names mirror the official checkpoints' keys.

The model is stateless: per-sequence memories live in the engine (`engine.py`).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import to_2d, to_tokens
from .backbones import build_backbone
from .decoder import FPNSegmentationHead
from .lstt import AOTTransformer, DeAOTTransformer
from .specs import EMBED_DIM, MAX_OBJECTS_PER_GROUP, ModelSpec, get_spec


def sine_position_embedding(h: int, w: int, dim: int = EMBED_DIM, temperature: float = 10000.0) -> torch.Tensor:
    """DETR-style normalised sine embedding, (1, h*w, dim): first half encodes y, second half x."""
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
    x = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w)
    y = y / (y[-1:, :] + eps) * scale
    x = x / (x[:, -1:] + eps) * scale
    feats = dim // 2
    freq = temperature ** (2 * (torch.arange(feats, dtype=torch.float32) // 2) / feats)

    def encode(coord: torch.Tensor) -> torch.Tensor:
        angles = coord[..., None] / freq
        return torch.stack([angles[..., 0::2].sin(), angles[..., 1::2].cos()], dim=-1).flatten(2)

    return torch.cat([encode(y), encode(x)], dim=-1).view(1, h * w, dim)


class DMAOTModel(nn.Module):
    """Encoder, identity bank, long-short term transformer and FPN decoder of one AOT-family model."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        dims = spec.encoder_dims
        self.encoder = build_backbone(spec.backbone)
        self.encoder_projector = nn.Conv2d(dims[-1], EMBED_DIM, kernel_size=1)
        if spec.arch == "aot":
            self.LSTT = AOTTransformer(spec.lstt_layers, EMBED_DIM, spec.heads)
            decoder_in = EMBED_DIM * (spec.lstt_layers + 1)  # every layer's output plus the projected feature
        else:
            self.LSTT = DeAOTTransformer(spec.lstt_layers, EMBED_DIM)
            decoder_in = EMBED_DIM * 2  # both branches of the last layer
        self.decoder = FPNSegmentationHead(decoder_in, MAX_OBJECTS_PER_GROUP + 1, EMBED_DIM, dims,
                                           spec.align_corners)
        if spec.align_corners:  # 16k+1 inputs
            self.patch_wise_id_bank = nn.Conv2d(MAX_OBJECTS_PER_GROUP + 1, EMBED_DIM, 17, stride=16, padding=8)
        else:
            self.patch_wise_id_bank = nn.Conv2d(MAX_OBJECTS_PER_GROUP + 1, EMBED_DIM, 16, stride=16)
        if spec.arch == "deaot":
            self.id_norm = nn.LayerNorm(EMBED_DIM)
        self._positions = {}
        self.requires_grad_(False)
        # oneDNN runs (depthwise) convolutions far faster on NHWC; token maps are NHWC-strided anyway.
        self.to(memory_format=torch.channels_last)
        self.eval()

    def train(self, mode: bool = True) -> "DMAOTModel":
        """Inference only: batch norms must keep their stored statistics, so stay in eval mode."""
        return super().train(False)

    def encode(self, image: torch.Tensor) -> List[torch.Tensor]:
        """Normalised (B, 3, H, W) image -> [4x, 8x, 16x, projected 16x] features."""
        feats = self.encoder(image.contiguous(memory_format=torch.channels_last))
        return feats[:-1] + [self.encoder_projector(feats[-1])]

    def identity_embedding(self, one_hot: torch.Tensor) -> torch.Tensor:
        """(B, n+1, H, W) one-hot labels of identities 0..n -> (B, h*w, C) identity tokens.

        Only the first n+1 input channels of the ID bank are used: the unused identities'
        channels would be all-zero planes, so skipping them changes nothing but the cost.
        """
        bank = self.patch_wise_id_bank
        channels = one_hot.shape[1]
        emb = F.conv2d(one_hot, bank.weight[:, :channels], bank.bias, stride=bank.stride, padding=bank.padding)
        emb = to_tokens(emb)
        return self.id_norm(emb) if self.spec.arch == "deaot" else emb

    def position_embedding(self, size_2d: Tuple[int, int], like: torch.Tensor) -> torch.Tensor:
        key = (size_2d, like.device, like.dtype)
        if key not in self._positions:
            self._positions[key] = sine_position_embedding(*size_2d).to(like.device, like.dtype)
        return self._positions[key]

    def propagate(self, feats: Sequence[torch.Tensor], memories, id_emb: Optional[torch.Tensor]):
        """Run the transformer on the frame's top feature.

        memories: per layer (long-term (K, V), short-term (K, V)), or None together with `id_emb`
        for a reference frame, which then attends to itself. Returns (decoder inputs,
        per-layer current material, per-layer memory entries (reference frames only)).
        """
        top = feats[-1]
        size_2d = tuple(top.shape[-2:])
        tokens = to_tokens(top)
        return self.LSTT(tokens, self.position_embedding(size_2d, tokens), memories, id_emb, size_2d)

    def memory_entries(self, currents, id_emb: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        return [layer.memory_entry(current, id_emb) for layer, current in zip(self.LSTT.layers, currents)]

    def decode(self, decoder_inputs: List[torch.Tensor], feats: Sequence[torch.Tensor], channels: int) -> torch.Tensor:
        """Logits (B, channels, H/4, W/4) of background and the first channels-1 identities."""
        size_2d = tuple(feats[-1].shape[-2:])
        maps = [to_2d(x, size_2d) for x in decoder_inputs]
        x = torch.cat([feats[-1]] + maps, dim=1) if self.spec.arch == "aot" else maps[-1]
        return self.decoder(x, list(feats), channels)


def build_model(name: str) -> DMAOTModel:
    """Random-init model in eval mode; load weights with `load_checkpoint`. `model.spec.dm` tells DM-ness."""
    return DMAOTModel(get_spec(name))
