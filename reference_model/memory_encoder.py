"""Memory encoder: fuses a frame's image features with its predicted mask into 64-channel memory features.

The mask (already squashed to sigmoid·20−10 by the caller) is downsampled ×16 by strided convs, added to
projected image features, refined by two ConvNeXt blocks and projected to `mem_dim` channels.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import LayerNorm2d


class MaskDownSampler(nn.Module):
    """Four stride-2 conv + LayerNorm + GELU steps (channels ×4 each), then a 1×1 conv to embed_dim."""

    def __init__(self, embed_dim: int = 256, total_stride: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for _ in range(total_stride.bit_length() - 1):
            out_ch = in_ch * 4
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=2, padding=1), LayerNorm2d(out_ch), nn.GELU()]
            in_ch = out_ch
        layers.append(nn.Conv2d(in_ch, embed_dim, kernel_size=1))
        self.encoder = nn.Sequential(*layers)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(mask)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise 7×7 conv, LayerNorm, pointwise MLP ×4, layer scale, residual."""

    def __init__(self, dim: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(self, dim: int, num_layers: int, kernel_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CXBlock(dim, kernel_size) for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, fuser_layers: int, fuser_kernel: int) -> None:
        super().__init__()
        self.mask_downsampler = MaskDownSampler(in_dim)
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = Fuser(in_dim, fuser_layers, fuser_kernel)
        self.out_proj = nn.Conv2d(in_dim, out_dim, kernel_size=1)

    def forward(self, pix_feat: torch.Tensor, mask_for_mem: torch.Tensor) -> torch.Tensor:
        """pix_feat [1 or B, C, h, w], mask_for_mem [B, 1, 16h, 16w] → memory features [B, out_dim, h, w]."""
        x = self.pix_feat_proj(pix_feat) + self.mask_downsampler(mask_for_mem)
        return self.out_proj(self.fuser(x))
