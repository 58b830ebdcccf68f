"""Fixed (non-learned) position encodings: 2D sine, random Fourier features, 1D sine.

All are computed from shapes only, so they fold into constants when a stage is traced.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .rope import grid_table


def sine_axis_encodings(
    height: int, width: int, channels: int, temperature: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two halves of `sine_position_encoding_2d` per grid axis: rows [height, channels/2] (y) and
    [width, channels/2] (x); the 2D encoding of cell (y, x) is [y row, x row]."""
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

    return interleave(y), interleave(x)


def sine_position_encoding_2d(height: int, width: int, channels: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR-style normalized sine encoding of a height×width grid, shape [channels, height, width].

    The first half of the channels encodes y, the second half x; within each half sine and cosine
    alternate. Positions run 1..n and are normalized to (0, 2π], as in the original `PositionEmbeddingSine`.
    """
    return SineGrid(height, width, channels, temperature).channels_first()


class SineGrid(nn.Module):
    """`sine_position_encoding_2d`, the same numbers, kept as per-axis rows (zero in the other axis' half) and
    expanded on call (rope.grid_table: a graph stores (height + width)·channels numbers, not
    height·width·channels)."""

    def __init__(self, height: int, width: int, channels: int, temperature: float = 10000.0) -> None:
        super().__init__()
        pos_y, pos_x = sine_axis_encodings(height, width, channels, temperature)
        self.register_buffer("pos_y", torch.cat([pos_y, torch.zeros_like(pos_y)], dim=1))
        self.register_buffer("pos_x", torch.cat([torch.zeros_like(pos_x), pos_x], dim=1))

    def channels_first(self) -> torch.Tensor:
        """[channels, height, width]."""
        (h, c), w = self.pos_y.shape, self.pos_x.shape[0]
        ys = self.pos_y.transpose(0, 1)[:, :, None].expand(c, h, w)
        return ys + self.pos_x.transpose(0, 1)[:, None].expand(c, h, w)

    def tokens(self) -> torch.Tensor:
        """[height·width, channels], tokens row-major."""
        return grid_table(self.pos_x, self.pos_y)


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
        """Encoding of every cell centre of a height×width grid, shape [C, height, width].

        A cell's phase is the sum of its column's phase a and its row's phase b, so sin(a + b) and
        cos(a + b) are products of per-axis sines and cosines (equal to `encode` up to float rounding,
        ~1e-7): the exported graphs store the per-axis rows, not the C×height×width map (see rope.grid_table).
        """
        matrix = self.positional_encoding_gaussian_matrix.float()
        xs = (torch.arange(width, dtype=torch.float32, device=matrix.device) + 0.5) / width
        ys = (torch.arange(height, dtype=torch.float32, device=matrix.device) + 0.5) / height
        a = (2 * math.pi * (2 * xs[:, None] - 1) * matrix[0]).transpose(0, 1)[:, None, :]  # [F, 1, width]
        b = (2 * math.pi * (2 * ys[:, None] - 1) * matrix[1]).transpose(0, 1)[:, :, None]  # [F, height, 1]
        sin_a, cos_a, sin_b, cos_b = a.sin(), a.cos(), b.sin(), b.cos()
        # First half sin(a + b) = sin a cos b + cos a sin b, second half cos(a + b) = cos a cos b − sin a sin b.
        # Expanded to sizes read from the tables (traced, not literal) before multiplying: coremltools folds
        # a broadcast product of constants, and an expand to literal sizes, but not this.
        full = (2 * a.shape[0], b.shape[1], a.shape[2])
        first = torch.cat([sin_a, cos_a]).expand(full) * torch.cat([cos_b, cos_b]).expand(full)
        second = torch.cat([cos_a, -sin_a]).expand(full) * torch.cat([sin_b, sin_b]).expand(full)
        dense, dtype = first + second, self.positional_encoding_gaussian_matrix.dtype
        # No cast when none is needed: coremltools' converter folds a cast of constants into a stored map.
        return dense if dense.dtype == dtype else dense.to(dtype)
