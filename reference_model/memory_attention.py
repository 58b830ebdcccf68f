"""Memory attention: conditions the current frame's features on the memory bank.

Two layers of (RoPE self-attention over the 64×64 frame tokens, cross-attention to the memory tokens,
ReLU MLP), pre-norm, then a final LayerNorm. In cross-attention the queries are rotated on the 64×64
grid; each memory's 2D latents are rotated on their 16×16 grid (the same table for every memory); its
global latents and the object-pointer tokens are left unrotated. Padded memory tokens get an additive
bias so that they weigh exactly nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .attention import Attention, attend_biased_keys, keys_with_bias

QUERY_CHUNK = 1024  # frame tokens per attention call (see Attention.query_chunk)


class MemoryAttentionLayer(nn.Module):
    """Self-attention over the frame's tokens, then, per chunk of `query_chunk` tokens, cross-attention to
    the memory and the MLP. Everything after self-attention is per token, so chunks give the same result;
    a chunk's 2048-wide MLP activations (8 MB at 1024 tokens instead of 32) stay in cache, which made the
    MLP 20 % faster in onnxruntime at 1024²."""

    def __init__(self, dim: int, mem_dim: int, ffn_dim: int, query_chunk: int | None = None) -> None:
        super().__init__()
        self.self_attn = Attention(dim, num_heads=1, rotary=True, query_chunk=query_chunk)
        self.cross_attn_image = Attention(dim, num_heads=1, kv_in_dim=mem_dim, rotary=True)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.query_chunk = query_chunk

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        memory_bias: torch.Tensor,
        q_rope: tuple[torch.Tensor, torch.Tensor],
        rotate_memory_keys: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y, q_rope=q_rope, k_rope=q_rope)
        # x arrives with batch 1 while it is still the frame's own features: in the first layer its self-
        # attention and the cross-attention queries are computed once for every object, and it becomes
        # per object (by broadcasting) when the memory's answer is added.
        cross = self.cross_attn_image
        keys, values = cross.keys_values(memory + memory_pos, memory, rotate_keys=rotate_memory_keys)
        keys = keys_with_bias(keys, memory_bias)  # projected once, shared by the chunks
        # Queries for all tokens at once: one rotation by the whole table (slicing the constant tables per
        # chunk would store each slice in the exported file again).
        queries = cross.queries(self.norm2(x), q_rope)
        chunk = self.query_chunk or x.shape[1]
        if cross.fused:  # onnxruntime's fused kernel tiles the queries itself: all of them in one call
            x = x + cross.output(attend_biased_keys(queries, keys, values, fused=True))
            return torch.cat([part + self._mlp(part) for part in x.split(chunk, dim=1)], dim=1)
        out = []
        for start in range(0, x.shape[1], chunk):
            part = x[:, start : start + chunk]
            part = part + cross.output(attend_biased_keys(queries[:, :, start : start + chunk], keys, values))
            out.append(part + self._mlp(part))
        return torch.cat(out, dim=1)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(torch.relu(self.linear1(self.norm3(x))))


class MemoryAttention(nn.Module):
    def __init__(self, dim: int, mem_dim: int, ffn_dim: int, num_layers: int, query_tokens: int = 0) -> None:
        """query_tokens: the frame's token count; above QUERY_CHUNK, queries attend in chunks."""
        super().__init__()
        chunk = QUERY_CHUNK if query_tokens > QUERY_CHUNK else None
        self.layers = nn.ModuleList(MemoryAttentionLayer(dim, mem_dim, ffn_dim, chunk) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        x_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        memory_bias: torch.Tensor,
        q_rope: tuple[torch.Tensor, torch.Tensor],
        rotate_memory_keys: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """x [1 or B, HW, C], x_pos [1, HW, C]; memory, memory_pos [B, M, mem_dim]; memory_bias [B, 1, 1, M]
        → [B, HW, C]."""
        x = x + 0.1 * x_pos
        for layer in self.layers:
            x = layer(x, memory, memory_pos, memory_bias, q_rope, rotate_memory_keys)
        return self.norm(x)
