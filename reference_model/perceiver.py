"""EdgeTAM's 2D spatial perceiver: compresses a 64×64 memory map into 512 tokens.

256 global latents attend to the whole map (with its position encoding added to keys and values);
256 2D latents each attend to their own 4×4 window only, so they keep the map's layout and get a
16×16 sine position encoding. Written for any batch size (the original `forward_2d` breaks for B > 1).
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import attend
from .position_encoding import sine_position_encoding_2d


def feed_forward(dim: int, mult: int) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(), nn.Linear(dim * mult, dim, bias=False)
    )


class LatentCrossAttention(nn.Module):
    """Latents (queries) attend to input tokens; position encodings are added to keys and values."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, latents: torch.Tensor, x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        q = self.to_q(self.norm_latents(latents))
        k, v = self.to_kv(self.norm_x(x)).chunk(2, dim=-1)
        if pos is not None:
            k, v = k + pos, v + pos
        out = attend(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)).squeeze(1)
        return self.to_out(out)


class LatentSelfAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        x = self.norm(latents)
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=-1)
        out = attend(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)).squeeze(1)
        return self.to_out(out)


class PerceiverLayer(nn.Module):
    def __init__(self, dim: int, ff_mult: int) -> None:
        super().__init__()
        self.attn = LatentCrossAttention(dim)
        self.ff = feed_forward(dim, ff_mult)
        self.self_attn = LatentSelfAttention(dim)
        self.self_ff = feed_forward(dim, ff_mult)

    def forward(self, latents: torch.Tensor, x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        latents = latents + self.attn(latents, x, pos)
        latents = latents + self.ff(latents)
        latents = latents + self.self_attn(latents)
        return latents + self.self_ff(latents)


class SpatialPerceiver(nn.Module):
    def __init__(self, dim: int, depth: int, num_latents: int, num_latents_2d: int, ff_mult: int) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.latents_2d = nn.Parameter(torch.randn(num_latents_2d, dim))
        self.layers = nn.ModuleList(PerceiverLayer(dim, ff_mult) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.grid = int(round(num_latents_2d**0.5))

    def forward(self, memory: torch.Tensor, memory_pos: torch.Tensor) -> torch.Tensor:
        """memory, memory_pos [B, C, H, W] → tokens [B, num_latents + num_latents_2d, C] (global, then 2D)."""
        return torch.cat([self.global_latents(memory, memory_pos), self.window_latents(memory)], dim=1)

    def token_pos(self) -> torch.Tensor:
        """Position encoding of the output tokens [num_latents + num_latents_2d, C]: zero for the global
        latents, a normalized sine grid for the 2D latents. It depends on no input, so it is a constant."""
        dim = self.latents.shape[1]
        grid = sine_position_encoding_2d(self.grid, self.grid, dim).flatten(1).transpose(0, 1)
        zeros = torch.zeros(self.latents.shape[0], dim)
        return torch.cat([zeros, grid], dim=0).to(self.latents.device)

    def global_latents(self, memory: torch.Tensor, memory_pos: torch.Tensor) -> torch.Tensor:
        b = memory.shape[0]
        x = memory.flatten(2).transpose(1, 2)
        pos = memory_pos.flatten(2).transpose(1, 2)
        latents = self.latents.unsqueeze(0).expand(b, -1, -1)
        for layer in self.layers:
            latents = layer(latents, x, pos)
        return self.norm(latents)

    def window_latents(self, memory: torch.Tensor) -> torch.Tensor:
        b, c, h, w = memory.shape
        g = self.grid
        win_h, win_w = h // g, w // g
        # One row of win_h·win_w tokens per window, windows row-major; written with rank ≤ 5 tensors
        # so Core ML can keep the object batch flexible.
        windows = memory.reshape(b * c, g, win_h, g, win_w).transpose(2, 3)
        windows = windows.reshape(b, c, g * g, win_h * win_w).permute(0, 2, 3, 1)
        windows = windows.reshape(b * g * g, win_h * win_w, c)
        latents = self.latents_2d.unsqueeze(0).expand(b, -1, -1).reshape(b * g * g, 1, c)
        for layer in self.layers:
            latents = layer(latents, windows, None)
        return self.norm(latents.reshape(b, g * g, c))
