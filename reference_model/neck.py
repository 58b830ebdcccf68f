"""Feature pyramid neck: 1×1 lateral projections to d_model, top-down fusion on the coarse levels only.

EdgeTAM fuses top-down (nearest ×2 upsampling, sum) on levels 2 and 3; levels 0 and 1 keep their
lateral features, and the stride-32 level is dropped afterwards ("scalp").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FpnNeck(nn.Module):
    def __init__(self, backbone_channels: tuple[int, ...], d_model: int, top_down_levels: tuple[int, ...]) -> None:
        super().__init__()
        # convs[0] projects the coarsest level, as in the original checkpoint's ordering.
        self.convs = nn.ModuleList()
        for channels in reversed(backbone_channels):
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(channels, d_model, kernel_size=1))
            self.convs.append(lateral)
        self.top_down_levels = tuple(top_down_levels)

    def lateral(self, level: int) -> nn.Conv2d:
        """The 1×1 projection of backbone level `level` (0 = finest)."""
        return self.convs[len(self.convs) - 1 - level].conv

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """features: backbone maps fine→coarse; returns d_model maps fine→coarse."""
        return self.levels(features, range(len(features)))

    def levels(self, features: list[torch.Tensor], wanted: range) -> list[torch.Tensor]:
        """The neck's maps for the levels in `wanted` (a contiguous range), computing nothing finer."""
        out: dict[int, torch.Tensor] = {}
        previous: torch.Tensor | None = None
        for level in range(len(features) - 1, wanted.start - 1, -1):
            lateral = self.lateral(level)(features[level])
            if level in self.top_down_levels and previous is not None:
                previous = lateral + F.interpolate(previous, scale_factor=2.0, mode="nearest")
            else:
                previous = lateral
            out[level] = previous
        return [out[level] for level in wanted]
