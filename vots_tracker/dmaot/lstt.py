"""Long-short term transformers: AOT's LSTT and DeAOT's dual-branch gated propagation (GPM).

A layer reads two memories, each a pair (K, V) of (B, tokens, C) tensors: the long-term memory
(reference frame and every `long_gap`-th frame) and the short-term memory (the frame written
`short_gap` memory writes back).
It returns its output and `current`, the current frame's key/value material; turning `current`
into a memory entry needs the frame's identity embedding (`memory_entry`), which is only known
once the frame's mask is decided. For DeAOT, V holds the visual and the identity values side by
side, so the memory read needs no per-frame concatenation.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import (GatedPropagation, GNActDWConv2d, LocalAttention, LocalGatedPropagation,
                        MultiheadAttention)

Memory = Tuple[torch.Tensor, torch.Tensor]  # (K, V), tokens first after the batch


class AOTLayer(nn.Module):
    def __init__(self, dim: int, self_heads: int, att_heads: int, ff_dim: int = 1024) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.linear_Q = nn.Linear(dim, dim)
        self.linear_V = nn.Linear(dim, dim)
        self.long_term_attn = MultiheadAttention(dim, att_heads, use_linear=False)
        self.short_term_attn = LocalAttention(dim, att_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.self_attn = MultiheadAttention(dim, self_heads)
        self.norm3 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ff_dim)
        self.activation = GNActDWConv2d(ff_dim)
        self.linear2 = nn.Linear(ff_dim, dim)

    def memory_entry(self, current: Sequence[torch.Tensor], id_emb: torch.Tensor) -> Memory:
        key, value = current
        return key, self.linear_V(value + id_emb)

    def forward(self, tgt, pos, long_term: Optional[Memory], short_term: Optional[Memory],
                id_emb: Optional[torch.Tensor], size_2d):
        x = self.norm1(tgt)
        qk = x + pos
        tgt = tgt + self.self_attn(qk, qk, x)

        x = self.norm2(tgt)
        query = self.linear_Q(x)
        current = (query, x)
        entry = None
        if id_emb is not None:  # reference frame: attend to itself, labelled with its mask
            entry = long_term = short_term = self.memory_entry(current, id_emb)
        tgt = tgt + (self.long_term_attn(query, *long_term) + self.short_term_attn(query, *short_term, size_2d))

        x = self.norm3(tgt)
        tgt = tgt + self.linear2(self.activation(self.linear1(x), size_2d))
        return tgt, current, entry


class AOTTransformer(nn.Module):
    def __init__(self, layers: int, dim: int, heads: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(AOTLayer(dim, heads, heads) for _ in range(layers))
        self.decoder_norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))

    def forward(self, tgt, pos, memories, id_emb, size_2d):
        """Returns (decoder inputs: every layer's normalised output, per-layer current, per-layer entry)."""
        outputs, currents, entries = [], [], []
        for i, layer in enumerate(self.layers):
            long_term, short_term = memories[i] if memories is not None else (None, None)
            tgt, current, entry = layer(tgt, pos, long_term, short_term, id_emb, size_2d)
            outputs.append(self.decoder_norms[i](tgt))
            currents.append(current)
            entries.append(entry)
        return outputs, currents, entries


class DeAOTLayer(nn.Module):
    """Gated propagation module: a visual branch and an identity branch sharing the attention maps."""

    def __init__(self, dim: int, index: int, expand_ratio: float = 2.0) -> None:
        super().__init__()
        expand = int(dim * expand_ratio)
        self.dim, self.d_att, self.expand = dim, dim // 2, expand
        self.first = index == 0
        self.norm1 = nn.LayerNorm(dim)
        self.linear_QV = nn.Linear(dim, self.d_att + expand)
        self.linear_U = nn.Linear(dim, expand)
        if self.first:
            self.linear_ID_V = nn.Linear(dim, expand)
        else:
            self.id_norm1 = nn.LayerNorm(dim)
            self.linear_ID_V = nn.Linear(dim * 2, expand)
            self.linear_ID_U = nn.Linear(dim, expand)
        self.long_term_attn = GatedPropagation(dim, dim * 2, 1, use_linear=False, d_att=self.d_att)
        self.short_term_attn = LocalGatedPropagation(self.d_att, dim * 2)
        self.norm2 = nn.LayerNorm(dim)
        self.id_norm2 = nn.LayerNorm(dim)
        self.self_attn = GatedPropagation(dim * 2, dim * 2, 1, d_att=self.d_att)

    def memory_entry(self, current: Sequence[Optional[torch.Tensor]], id_emb: torch.Tensor) -> Memory:
        key, value, id_value = current
        id_input = id_emb if id_value is None else torch.cat([id_value, id_emb], dim=-1)
        return key, torch.cat([value, F.silu(self.linear_ID_V(id_input))], dim=-1)

    def forward(self, tgt, tgt_id, long_term, short_term, id_emb, size_2d):
        x = self.norm1(tgt)
        query, value = torch.split(self.linear_QV(x), [self.d_att, self.expand], dim=-1)
        value = F.silu(value)
        gate = self.linear_U(x)
        if tgt_id is None:
            id_value = None
            gate = torch.cat([F.silu(gate), torch.ones_like(gate)], dim=-1)
        else:
            id_value = self.id_norm1(tgt_id)
            gate = F.silu(torch.cat([gate, self.linear_ID_U(id_value)], dim=-1))
        current = (query, value, id_value)
        entry = None
        if id_emb is not None:
            entry = long_term = short_term = self.memory_entry(current, id_emb)
        update = (self.long_term_attn(query, *long_term, gate, size_2d)
                  + self.short_term_attn(query, *short_term, gate, size_2d))
        tgt = tgt + update[..., :self.dim]
        tgt_id = update[..., self.dim:] if tgt_id is None else tgt_id + update[..., self.dim:]

        both = torch.cat([self.norm2(tgt), self.id_norm2(tgt_id)], dim=-1)
        update = self.self_attn(both, both, both, both, size_2d)
        return tgt + update[..., :self.dim], tgt_id + update[..., self.dim:], current, entry


class GroupNorm1D(nn.Module):
    def __init__(self, dim: int, groups: int) -> None:
        super().__init__()
        self.gn = nn.GroupNorm(groups, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(x.transpose(1, 2)).transpose(1, 2)


class DeAOTTransformer(nn.Module):
    def __init__(self, layers: int, dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DeAOTLayer(dim, i) for i in range(layers))
        self.decoder_norms = nn.ModuleList([GroupNorm1D(dim * 2, groups=2)])

    def forward(self, tgt, pos, memories, id_emb, size_2d):
        """Returns ([normalised final output of both branches], per-layer current, per-layer entry)."""
        del pos  # DeAOT's propagation has no positional term
        tgt_id = None
        currents: List = []
        entries: List = []
        for i, layer in enumerate(self.layers):
            long_term, short_term = memories[i] if memories is not None else (None, None)
            tgt, tgt_id, current, entry = layer(tgt, tgt_id, long_term, short_term, id_emb, size_2d)
            currents.append(current)
            entries.append(entry)
        return [self.decoder_norms[0](torch.cat([tgt, tgt_id], dim=-1))], currents, entries
