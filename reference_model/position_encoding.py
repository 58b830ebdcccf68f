"""Fixed (non-learned) position encodings: 2D sine, random Fourier features, 1D sine.

All are computed from shapes only, so they fold into constants when a stage is traced.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sine_position_encoding_2d(height: int, width: int, channels: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR-style normalized sine encoding of a height×width grid, shape [channels, height, width].

    The first half of the channels encodes y, the second half x; within each half sine and cosine
    alternate. Positions run 1..n and are normalized to (0, 2π], as in the original `PositionEmbeddingSine`.
    """
    half = channels // 2
    eps = 1e-6
    scale = 2 * math.pi
    y = torch.arange(1, height + 1, dtype=torch.float32)
    x = torch.arange(1, width + 1, dtype=torch.float32)
    y = y / (y[-1:] + eps) * scale
    x = x / (x[-1:] + eps) * scale
    dim_t = torch.arange(half, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)

    def interleave(pos: torch.Tensor) -> torch.Tensor:
        angles = pos[:, None] / dim_t  # [n, half]
        return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=2).flatten(1)

    pos_y = interleave(y)[:, None, :].expand(height, width, half)
    pos_x = interleave(x)[None, :, :].expand(height, width, half)
    return torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1).contiguous()


def sine_position_encoding_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """1D sine encoding of (possibly fractional) positions, shape [..., dim]: all sines, then all cosines."""
    half = dim // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
    angles = positions.unsqueeze(-1) / dim_t
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class RandomFourierEncoding(nn.Module):
    """SAM's point encoding: coordinates in [0, 1] projected on a fixed Gaussian matrix, then sin/cos.

    The matrix is a buffer of the checkpoint (`positional_encoding_gaussian_matrix`), not learned.
    """

    def __init__(self, num_pos_feats: int = 128) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def encode(self, coords01: torch.Tensor) -> torch.Tensor:
        """coords01: [..., 2] as (x, y) in [0, 1] → [..., 2·num_pos_feats].

        Computed in float32 whatever the model's dtype: the phases reach ~±30 rad, where float16 would
        lose the encoding; the result is cast back to the input's dtype.
        """
        matrix = self.positional_encoding_gaussian_matrix.float()
        projected = 2 * math.pi * ((2 * coords01.float() - 1) @ matrix)
        return torch.cat([projected.sin(), projected.cos()], dim=-1).to(coords01.dtype)

    def dense(self, height: int, width: int) -> torch.Tensor:
        """Encoding of every cell centre of a height×width grid, shape [C, height, width]."""
        ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height
        xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width
        grid = torch.stack([xs[None, :].expand(height, width), ys[:, None].expand(height, width)], dim=-1)
        grid = grid.to(self.positional_encoding_gaussian_matrix.device)
        dtype = self.positional_encoding_gaussian_matrix.dtype
        return self.encode(grid).permute(2, 0, 1).to(dtype)
