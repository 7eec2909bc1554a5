"""FPN decoder: 16x transformer output plus backbone shortcuts -> per-identity logits at 4x."""

from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvGN(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, groups: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, kernel_size, padding=kernel_size // 2)
        self.gn = nn.GroupNorm(groups, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(self.conv(x))


class FPNSegmentationHead(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden: int, shortcut_dims: Sequence[int],
                 align_corners: bool) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.conv_in = ConvGN(in_dim, hidden, 1)
        self.conv_16x = ConvGN(hidden, hidden, 3)
        self.conv_8x = ConvGN(hidden, hidden // 2, 3)
        self.conv_4x = ConvGN(hidden // 2, hidden // 2, 3)
        self.adapter_16x = nn.Conv2d(shortcut_dims[-2], hidden, 1)
        self.adapter_8x = nn.Conv2d(shortcut_dims[-3], hidden, 1)
        self.adapter_4x = nn.Conv2d(shortcut_dims[-4], hidden // 2, 1)
        self.conv_out = nn.Conv2d(hidden // 2, out_dim, 1)

    def _up(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=self.align_corners)

    def forward(self, x: torch.Tensor, shortcuts: List[torch.Tensor], channels: int) -> torch.Tensor:
        """Logits of the first `channels` identities (background first); the others are unused."""
        x = F.relu(self.conv_in(x))
        x = F.relu(self.conv_16x(self.adapter_16x(shortcuts[-2]) + x))
        x = F.relu(self.conv_8x(self.adapter_8x(shortcuts[-3]) + self._up(x, shortcuts[-3])))
        x = F.relu(self.conv_4x(self.adapter_4x(shortcuts[-4]) + self._up(x, shortcuts[-4])))
        return F.conv2d(x, self.conv_out.weight[:channels], self.conv_out.bias[:channels])
