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
from torch import nn


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


def axis_angles(dim: int, end: int, theta: float = 10000.0) -> torch.Tensor:
    """Angles of one grid axis, shape [end, dim // 4]: the rows `axial_rope_angles` repeats for that axis."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    return torch.outer(torch.arange(end, dtype=torch.float32), freqs)


def grid_table(along_x: torch.Tensor, along_y: torch.Tensor) -> torch.Tensor:
    """Per-token table of a row-major end_y × end_x grid from per-axis rows [end_x, C] and [end_y, C] that
    are zero where the other axis has its channels: token (y, x) gets along_x[x] + along_y[y], exactly
    the one non-zero term per channel. Shape [end_y·end_x, C].

    Written as two expands and an add of the expanded tables: onnxruntime's exporter does not fold expand,
    and coremltools folds no computed constant above its limit (to_coreml.FOLD_LIMIT), so an exported graph
    stores the per-axis rows and builds the table when it runs (onnxruntime folds it once, at load).
    """
    (end_x, c), end_y = along_x.shape, along_y.shape[0]
    return (along_x[None].expand(end_y, end_x, c) + along_y[:, None].expand(end_y, end_x, c)).flatten(0, 1)


def axis_rows(values: torch.Tensor, slots: list[bool]) -> torch.Tensor:
    """Rows [n, len(slots)·q] holding `values` [n, q] in the slots marked True and zeros in the others."""
    zeros = torch.zeros_like(values)
    return torch.cat([values if s else zeros for s in slots], dim=-1)


class AxialRopeTables(nn.Module):
    """The cos and sin tables of `rope_tables(axial_rope_angles(dim, end_x, end_y))`, the same numbers, kept as
    per-axis rows (2·(end_x + end_y)·dim numbers instead of 2·end_x·end_y·dim) and expanded on call.
    `identity_tokens` unrotated tokens (cos 1, sin 0) come first, as one row expanded. Channel quarters of
    the half-split order: x, y, x, y."""

    def __init__(self, dim: int, end_x: int, end_y: int, theta: float = 10000.0, identity_tokens: int = 0) -> None:
        super().__init__()
        ax, ay = axis_angles(dim, end_x, theta), axis_angles(dim, end_y, theta)
        on_x, on_y = [True, False, True, False], [False, True, False, True]
        self.register_buffer("cos_x", axis_rows(ax.cos(), on_x))
        self.register_buffer("sin_x", axis_rows(ax.sin(), on_x))
        self.register_buffer("cos_y", axis_rows(ay.cos(), on_y))
        self.register_buffer("sin_y", axis_rows(ay.sin(), on_y))
        self.register_buffer("identity", torch.stack([torch.ones(dim), torch.zeros(dim)]))
        self.identity_tokens = identity_tokens

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        cos, sin = grid_table(self.cos_x, self.cos_y), grid_table(self.sin_x, self.sin_y)
        if self.identity_tokens:
            n, dim = self.identity_tokens, cos.shape[1]
            cos = torch.cat([self.identity[:1].expand(n, dim), cos])
            sin = torch.cat([self.identity[1:].expand(n, dim), sin])
        return cos, sin


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
