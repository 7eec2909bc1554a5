"""Attention layers of AOT (multi-head) and DeAOT (single-head gated propagation).

Tokens are batch-first, (B, L, C), with L = h*w in row-major order. Global attention uses
`scaled_dot_product_attention`. Short-term attention looks at a 15x15 window around each query;
it is computed as dense attention with an additive window mask that also carries the learned
relative-position logits, which avoids the reference's large unfold and scatter buffers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

WINDOW_RADIUS = 7
WINDOW = 2 * WINDOW_RADIUS + 1


def to_2d(x: torch.Tensor, size_2d: Tuple[int, int]) -> torch.Tensor:
    """(B, L, C) tokens -> (B, C, h, w) map."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *size_2d)


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) map -> (B, L, C) tokens."""
    return x.flatten(2).transpose(1, 2)


@lru_cache(maxsize=16)
def _window_pairs(h: int, w: int, device: torch.device):
    """Index tensors for every (query, key) pair inside the local window.

    Returns flat indices into an (L, L) logit matrix, into an (WINDOW^2, L) relative-logit map,
    into an (L, WINDOW^2) local-attention map, and the additive (L, L) mask (0 inside, -inf outside).
    """
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ys, xs = ys.reshape(-1, 1), xs.reshape(-1, 1)
    dy, dx = torch.meshgrid(torch.arange(-WINDOW_RADIUS, WINDOW_RADIUS + 1),
                            torch.arange(-WINDOW_RADIUS, WINDOW_RADIUS + 1), indexing="ij")
    ky, kx = ys + dy.reshape(1, -1), xs + dx.reshape(1, -1)  # (L, WINDOW^2)
    valid = (ky >= 0) & (ky < h) & (kx >= 0) & (kx < w)
    length = h * w
    query = torch.arange(length).view(-1, 1).expand_as(valid)[valid]
    offset = torch.arange(WINDOW * WINDOW).view(1, -1).expand_as(valid)[valid]
    key = (ky * w + kx)[valid]
    mask = torch.full((length, length), float("-inf"))
    mask.view(-1)[query * length + key] = 0.0
    return ((query * length + key).to(device), (offset * length + query).to(device),
            (query * WINDOW * WINDOW + offset).to(device), mask.to(device))


def window_mask(relative_logits: torch.Tensor, size_2d: Tuple[int, int]) -> torch.Tensor:
    """Additive (B, heads, L, L) mask: relative logits inside each query's window, -inf outside."""
    b, heads = relative_logits.shape[:2]
    pair_index, relative_index, _, base = _window_pairs(*size_2d, relative_logits.device)
    mask = base.to(relative_logits.dtype).repeat(b * heads, 1, 1)
    mask.view(b * heads, -1)[:, pair_index] = relative_logits.reshape(b * heads, -1)[:, relative_index]
    return mask.view(b, heads, *base.shape)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, length, c = x.shape
    return x.view(b, length, heads, c // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, heads, length, d = x.shape
    return x.transpose(1, 2).reshape(b, length, heads * d)


class DWConv2d(nn.Module):
    """5x5 depthwise convolution over the token grid."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 5, padding=2, groups=dim, bias=False)

    def forward(self, x: torch.Tensor, size_2d: Tuple[int, int]) -> torch.Tensor:
        return to_tokens(self.conv(to_2d(x, size_2d)))


class GNActDWConv2d(nn.Module):
    """GroupNorm, GELU and a 5x5 depthwise convolution: the AOT feed-forward's middle."""

    def __init__(self, dim: int, groups: int = 32) -> None:
        super().__init__()
        self.gn = nn.GroupNorm(groups, dim)
        self.conv = nn.Conv2d(dim, dim, 5, padding=2, groups=dim, bias=False)

    def forward(self, x: torch.Tensor, size_2d: Tuple[int, int]) -> torch.Tensor:
        return to_tokens(self.conv(F.gelu(self.gn(to_2d(x, size_2d)))))


# ----------------------------------------------------------------------------- AOT

class MultiheadAttention(nn.Module):
    """Global multi-head attention; without input projections for the long-term memory read."""

    def __init__(self, dim: int, heads: int, use_linear: bool = True) -> None:
        super().__init__()
        self.heads = heads
        if use_linear:
            self.linear_Q = nn.Linear(dim, dim)
            self.linear_K = nn.Linear(dim, dim)
            self.linear_V = nn.Linear(dim, dim)
        self.use_linear = use_linear
        self.projection = nn.Linear(dim, dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.use_linear:
            q, k, v = self.linear_Q(q), self.linear_K(k), self.linear_V(v)
        out = F.scaled_dot_product_attention(
            split_heads(q, self.heads), split_heads(k, self.heads), split_heads(v, self.heads))
        return self.projection(merge_heads(out))


class LocalAttention(nn.Module):
    """AOT short-term attention: windowed, with relative-position terms on logits and values."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.relative_emb_k = nn.Conv2d(dim, heads * WINDOW * WINDOW, kernel_size=1, groups=heads)
        self.relative_emb_v = nn.Parameter(torch.zeros(heads, dim // heads, WINDOW * WINDOW))
        self.projection = nn.Linear(dim, dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                size_2d: Tuple[int, int]) -> torch.Tensor:
        b, length, c = q.shape
        heads = self.heads
        relative = self.relative_emb_k(to_2d(q, size_2d)).view(b, heads, WINDOW * WINDOW, length)
        qh, kh, vh = split_heads(q, heads), split_heads(k, heads), split_heads(v, heads)
        logits = (qh / (c // heads) ** 0.5) @ kh.transpose(-1, -2) + window_mask(relative, size_2d)
        attn = torch.softmax(logits, dim=-1)
        out = attn @ vh
        # The value-side relative term needs the window-shaped attention weights.
        pair_index, _, local_index, _ = _window_pairs(*size_2d, q.device)
        local = attn.new_zeros(b * heads, length * WINDOW * WINDOW)
        local[:, local_index] = attn.reshape(b * heads, -1)[:, pair_index]
        out = out + torch.einsum("bhlw,hcw->bhlc", local.view(b, heads, length, -1), self.relative_emb_v)
        return self.projection(merge_heads(out))


# ----------------------------------------------------------------------------- DeAOT

class GatedPropagation(nn.Module):
    """Gated propagation: attention output multiplied by a gate U, then depthwise conv and projection."""

    def __init__(self, d_qk: int, d_vu: int, heads: int = 1, use_linear: bool = True,
                 d_att: Optional[int] = None, expand_ratio: float = 2.0) -> None:
        super().__init__()
        self.heads = heads
        self.d_vu = d_vu
        expand = int(d_vu * expand_ratio)
        self.hidden = expand // heads
        d_att = d_qk // heads if d_att is None else d_att
        self.use_linear = use_linear
        if use_linear:
            half = self.hidden * heads // 2
            self.linear_QK = nn.Linear(d_qk, d_att * heads)
            self.linear_V1 = nn.Linear(d_vu // 2, half)
            self.linear_V2 = nn.Linear(d_vu // 2, half)
            self.linear_U1 = nn.Linear(d_vu // 2, half)
            self.linear_U2 = nn.Linear(d_vu // 2, half)
        self.dw_conv = DWConv2d(expand)
        self.projection = nn.Linear(expand, d_vu)

    def _gate_input(self, x: torch.Tensor, first: nn.Linear, second: nn.Linear) -> torch.Tensor:
        x1, x2 = torch.split(x, self.d_vu // 2, dim=-1)
        x1, x2 = first(x1), second(x2)
        if self.heads > 1:  # interleave the two halves per head
            b, length, _ = x1.shape
            x1 = x1.view(b, length, self.heads, -1)
            x2 = x2.view(b, length, self.heads, -1)
            return F.silu(torch.cat([x1, x2], dim=-1).view(b, length, -1))
        return F.silu(torch.cat([x1, x2], dim=-1))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, u: torch.Tensor,
                size_2d: Tuple[int, int]) -> torch.Tensor:
        if self.use_linear:
            q = k = self.linear_QK(q)
            v = self._gate_input(v, self.linear_V1, self.linear_V2)
            u = self._gate_input(u, self.linear_U1, self.linear_U2)
        out = F.scaled_dot_product_attention(
            split_heads(q, self.heads), split_heads(k, self.heads), split_heads(v, self.heads))
        return self.projection(self.dw_conv(merge_heads(out) * u, size_2d))


class LocalGatedPropagation(nn.Module):
    """DeAOT short-term propagation over the 15x15 window (single head, no input projections)."""

    def __init__(self, d_att: int, d_vu: int, heads: int = 1, expand_ratio: float = 2.0) -> None:
        super().__init__()
        self.heads = heads
        expand = int(d_vu * expand_ratio)
        self.relative_emb_k = nn.Conv2d(d_att * heads, heads * WINDOW * WINDOW, kernel_size=1, groups=heads)
        self.dw_conv = DWConv2d(expand)
        self.projection = nn.Linear(expand, d_vu)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, u: torch.Tensor,
                size_2d: Tuple[int, int]) -> torch.Tensor:
        b, length, _ = q.shape
        relative = self.relative_emb_k(to_2d(q, size_2d)).view(b, self.heads, WINDOW * WINDOW, length)
        out = F.scaled_dot_product_attention(
            split_heads(q, self.heads), split_heads(k, self.heads), split_heads(v, self.heads),
            attn_mask=window_mask(relative, size_2d))
        return self.projection(self.dw_conv(merge_heads(out) * u, size_2d))
