"""Image encoders: 4x, 8x, 16x features plus the 16x top feature, as the AOT decoder expects.

MobileNetV2 and ResNet-50 are timm modules (numerically the same networks as aot-benchmark's).
Swin-B is written here: aot-benchmark uses the detection variant of Swin, which pads each
block's input to whole windows *before* the cyclic shift and keeps 7x7 windows on small maps;
timm shifts before padding and shrinks windows, which changes the numbers at the borders.

Official checkpoints name MobileNetV2 layers after torchvision (`features.N...`); the explicit,
invertible renaming to timm's names lives in `official_to_ours` / `ours_to_official`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Tuple

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F


def _drop_batch_counters(module: nn.Module) -> None:
    """Official files have frozen BNs without `num_batches_tracked`: drop the counter.

    With `track_running_stats=False` torch neither saves nor expects the counter; in eval mode
    (the only mode these models run in) BN still normalises with the stored running statistics.
    """
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.num_batches_tracked = None


class MobileNetV2Encoder(nn.Module):
    """timm `mobilenetv2_100` at output stride 16 (the last two stages dilated), head conv included."""

    def __init__(self) -> None:
        super().__init__()
        net = timm.create_model("mobilenetv2_100", pretrained=False, output_stride=16)
        self.conv_stem, self.bn1, self.blocks = net.conv_stem, net.bn1, net.blocks
        self.conv_head, self.bn2 = net.conv_head, net.bn2
        _drop_batch_counters(self)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.bn1(self.conv_stem(x))
        x = self.blocks[1](self.blocks[0](x))
        x4 = x
        x8 = self.blocks[2](x4)
        x16 = self.blocks[4](self.blocks[3](x8))
        top = self.bn2(self.conv_head(self.blocks[6](self.blocks[5](x16))))
        return [x4, x8, x16, top]


class ResNet50Encoder(nn.Module):
    """timm `resnet50` stem and layers 1-3 (layer 4 is dropped, as in STM/AOT); 16x feature reused on top."""

    def __init__(self) -> None:
        super().__init__()
        net = timm.create_model("resnet50", pretrained=False)
        self.conv1, self.bn1, self.act1, self.maxpool = net.conv1, net.bn1, net.act1, net.maxpool
        self.layer1, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3
        _drop_batch_counters(self)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x4 = self.layer1(x)
        x8 = self.layer2(x4)
        x16 = self.layer3(x8)
        return [x4, x8, x16, x16]


# ----------------------------------------------------------------------------- Swin-B (detection variant)

@lru_cache(maxsize=8)
def _relative_position_index(window: int, device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """Cached per device: copying it to the GPU in every block of every frame would sync each time."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (rel[..., 0] * (2 * window - 1) + rel[..., 1]).to(device)


def _to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def _from_windows(x: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    c = x.shape[-1]
    x = x.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


@lru_cache(maxsize=16)
def _shift_mask(win: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """(windows, N, N) mask, -100 between tokens that the cyclic shift brought from different regions.

    Cached (read-only): it depends only on the window, the feature size and the device.
    """
    shift = win // 2
    hp, wp = -(-h // win) * win, -(-w // win) * win
    region = torch.zeros((1, hp, wp, 1), device=device)
    cuts = (slice(0, -win), slice(-win, -shift), slice(-shift, None))
    for i, (hs, ws) in enumerate((hs, ws) for hs in cuts for ws in cuts):
        region[:, hs, ws] = i
    region = _to_windows(region, win).squeeze(-1)
    diff = region[:, None, :] - region[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def position_bias(self) -> torch.Tensor:
        index = _relative_position_index(self.window, self.relative_position_bias_table.device)
        n = self.window * self.window
        return self.relative_position_bias_table[index.view(-1)].view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x: (windows*B, N, C); bias: additive (heads or windows*heads, N, N) mask incl. position bias."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = timm.layers.Mlp(dim, dim * 4)

    def forward(self, x: torch.Tensor, shift_mask: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        win = self.window
        y = self.norm1(x)
        pad_b, pad_r = (-h) % win, (-w) % win
        y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))  # pad first, then shift: the detection-Swin order
        hp, wp = h + pad_b, w + pad_r
        bias = self.attn.position_bias().to(y.dtype)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), (1, 2))
            windows = shift_mask.shape[0]
            bias = (shift_mask.to(y.dtype)[:, None] + bias[None]).repeat(b, 1, 1, 1)
            y = self.attn(_to_windows(y, win), bias.view(b * windows, *bias.shape[1:]))
            y = torch.roll(_from_windows(y, win, hp, wp), (self.shift, self.shift), (1, 2))
        else:
            y = _from_windows(self.attn(_to_windows(y, win), bias[None]), win, hp, wp)
        x = x + y[:, :h, :w]
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int, downsample: bool) -> None:
        super().__init__()
        self.window = window
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, window, 0 if i % 2 == 0 else window // 2) for i in range(depth))
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mask = _shift_mask(self.window, x.shape[1], x.shape[2], x.device)
        for block in self.blocks:
            x = block(x, mask)
        return x, (self.downsample(x) if self.downsample is not None else x)


class PatchEmbed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, (-x.shape[3]) % 4, 0, (-x.shape[2]) % 4))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class SwinBaseEncoder(nn.Module):
    """Swin-B (window 7) with its first three stages; channels-last inside, NCHW outputs."""

    def __init__(self, dim: int = 128, depths=(2, 2, 18), heads=(4, 8, 16), window: int = 7) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(dim)
        self.layers = nn.ModuleList(
            SwinStage(dim * 2 ** i, depths[i], heads[i], window, downsample=i < len(depths) - 1)
            for i in range(len(depths)))
        for i in range(len(depths)):
            self.add_module(f"norm{i}", nn.LayerNorm(dim * 2 ** i))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.layers):
            out, x = stage(x)
            outs.append(getattr(self, f"norm{i}")(out).permute(0, 3, 1, 2).contiguous())
        return outs + [outs[-1]]


def build_backbone(name: str) -> nn.Module:
    if name == "mobilenetv2":
        return MobileNetV2Encoder()
    if name == "resnet50":
        return ResNet50Encoder()
    if name == "swin_base":
        return SwinBaseEncoder()
    raise ValueError(f"unknown backbone {name!r}")


# ----------------------------------------------------------------------------- official <-> our key names

_MBV2_STAGE_DEPTHS = (1, 2, 3, 4, 3, 3, 1)  # inverted-residual blocks per timm stage


@lru_cache(maxsize=1)
def _mobilenet_prefixes() -> Tuple[Tuple[str, str], ...]:
    """(official prefix, timm prefix) pairs, most specific first."""
    pairs = [("features.0.0.", "conv_stem."), ("features.0.1.", "bn1."),
             ("features.18.0.", "conv_head."), ("features.18.1.", "bn2.")]
    index = 1
    for stage, depth in enumerate(_MBV2_STAGE_DEPTHS):
        for i in range(depth):
            src, dst = f"features.{index}.conv.", f"blocks.{stage}.{i}."
            if index == 1:  # expansion 1: depthwise, then pointwise-linear
                names = [("0.0.", "conv_dw."), ("0.1.", "bn1."), ("1.", "conv_pw."), ("2.", "bn2.")]
            else:
                names = [("0.0.", "conv_pw."), ("0.1.", "bn1."), ("1.0.", "conv_dw."), ("1.1.", "bn2."),
                         ("2.", "conv_pwl."), ("3.", "bn3.")]
            pairs += [(src + a, dst + b) for a, b in names]
            index += 1
    return tuple(pairs)


def _rename(key: str, pairs, forward: bool) -> str:
    for official, ours in pairs:
        src, dst = (official, ours) if forward else (ours, official)
        if key.startswith(src):
            return dst + key[len(src):]
    raise KeyError(key)


def official_to_ours(backbone: str, key: str) -> str:
    """Map an official encoder key (without the `encoder.` prefix) to our module's name."""
    if backbone == "mobilenetv2":
        return _rename(key, _mobilenet_prefixes(), forward=True)
    return key  # timm's ResNet and our Swin use the official names


def ours_to_official(backbone: str, key: str) -> str:
    """Inverse of `official_to_ours`."""
    if backbone == "mobilenetv2":
        return _rename(key, _mobilenet_prefixes(), forward=False)
    return key


def official_only_buffers(backbone: str, encoder: nn.Module) -> Dict[str, torch.Tensor]:
    """Encoder buffers that official files carry but inference recomputes (Swin's position index)."""
    if backbone != "swin_base":
        return {}
    return {f"{name}.relative_position_index": _relative_position_index(m.window).clone()
            for name, m in encoder.named_modules() if isinstance(m, WindowAttention)}

