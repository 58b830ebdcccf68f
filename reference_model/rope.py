"""Axial 2D rotary position encoding (RoPE) with real cos/sin tables.

The original rotates channel pairs (x[2i], x[2i+1]) as complex numbers; complex tensors do not export,
so the same rotation is written as x·cos + rotate_pairs(x)·sin with each angle repeated for both members
of its pair. Angles: the first quarter-dim frequencies scale the token's x index, the second its y index.
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
    """cos and sin tables, shape [tokens, dim], each angle repeated for the two channels of its pair."""
    return angles.cos().repeat_interleave(2, dim=-1), angles.sin().repeat_interleave(2, dim=-1)


def identity_tables(tokens: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tables that leave tokens unrotated (cos 1, sin 0): for tokens the original keeps out of RoPE."""
    return torch.ones(tokens, dim), torch.zeros(tokens, dim)


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1) → (−x1, x0) for every channel pair: multiplication by i."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., tokens, dim] by tables [tokens, dim]."""
    return x * cos + rotate_pairs(x) * sin
