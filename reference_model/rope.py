"""Axial 2D rotary position encoding (RoPE) with real cos/sin tables, on channels in half-split order.

The original rotates channel pairs (x[2i], x[2i+1]) as complex numbers; complex tensors do not export,
so the same rotation is written as x·cos + rotate_halves(x)·sin. The rotated queries and keys come from
projections whose output channels are reordered (`half_split_order`): every pair's first members form the
first half, its second members the second half. Attention scores are sums over channels, so they do not
change, and the rotation needs two contiguous slices instead of strided gathers (which took ~25 ms of
memory attention at 1024² in onnxruntime). Angles: the first quarter-dim frequencies scale the token's x
index, the second its y index.
"""

from __future__ import annotations

import torch


def axial_rope_angles(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> torch.Tensor:
    """Rotation angle per token and channel pair, shape [end_x·end_y, dim // 2] (row-major tokens)."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x = t % end_x
    t_y = torch.div(t, end_x, rounding_mode="floor")
    return torch.cat([torch.outer(t_x, freqs), torch.outer(t_y, freqs)], dim=-1)


def rope_tables(angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, shape [tokens, dim], in half-split order (each pair's angle in both halves)."""
    return torch.cat([angles.cos()] * 2, dim=-1), torch.cat([angles.sin()] * 2, dim=-1)


def half_split_order(dim: int) -> torch.Tensor:
    """Channel order that puts pair members (2i, 2i+1) at (i, dim/2 + i)."""
    return torch.cat([torch.arange(0, dim, 2), torch.arange(1, dim, 2)])


def identity_tables(tokens: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tables that leave tokens unrotated (cos 1, sin 0): for tokens the original keeps out of RoPE."""
    return torch.ones(tokens, dim), torch.zeros(tokens, dim)


def rotate_halves(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1) → (−x1, x0) for every channel pair, pairs split into halves: multiplication by i."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., tokens, dim] (half-split order) by tables [tokens, dim]."""
    return x * cos + rotate_halves(x) * sin
