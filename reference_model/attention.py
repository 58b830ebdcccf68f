"""Multi-head attention as SAM writes it (separate q/k/v/out projections, optional downsampled width),
with optional rotary tables and an additive key bias for padded keys.

Masking is additive (a large negative bias on padded keys), never boolean indexing, so padded inputs
trace to fixed shapes and give the same result as leaving the padding out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .fused_attention import fused_attend
from .rope import apply_rope, half_split_order

# Additive bias for keys that must not be attended to. Finite so that fp16 graphs stay finite;
# exp(-1e4 - max) underflows to exactly 0 in fp32 and fp16.
MASKED = -1.0e4


def key_padding_bias(valid: torch.Tensor) -> torch.Tensor:
    """valid [B, N] (1 keep, 0 drop) → additive bias [B, 1, 1, N] for multi-head attention logits."""
    return ((1.0 - valid) * MASKED)[:, None, None, :]


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q·kᵀ/√d + bias)·v over [B, heads, tokens, d] tensors."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def keys_with_bias(k: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Keys [B, heads, N, d] and a key bias [B, 1, 1, N] → keys [B, heads, N, d + 1], the bias as last channel."""
    return torch.cat([k, bias.transpose(-1, -2).expand(k.shape[0], k.shape[1], -1, -1)], dim=-1)


def attend_biased_keys(q: torch.Tensor, kb: torch.Tensor, v: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """attend(q, k, v, bias) for keys_with_bias(k, bias): queries get a last channel of ones, so q·kᵀ/√d + bias
    is one matrix product. With thousands of keys this skips a pass over the score matrix (onnxruntime:
    10 % of a 4096 × 3648 attention); a bias of 0 adds exactly nothing, so valid keys score the same.
    `fused` (one head): through onnxruntime's fused kernel, scale 1 since q is scaled here; queries shared by
    all objects (batch 1) are expanded to the keys' batch, as the kernel wants equal batches."""
    q = torch.cat([q * q.shape[-1] ** -0.5, torch.ones_like(q[..., :1])], dim=-1)
    if fused:
        return fused_attend(q.expand(kb.shape[0], -1, -1, -1), kb, v, scale=1.0)
    return torch.softmax(q @ kb.transpose(-1, -2), dim=-1) @ v


class Attention(nn.Module):
    """SAM attention: project, split heads, (rotate), attend, merge heads, project back."""

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        downsample_rate: int = 1,
        kv_in_dim: int | None = None,
        rotary: bool = False,
        query_chunk: int | None = None,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.internal_dim = embedding_dim // downsample_rate
        kv_in_dim = kv_in_dim or embedding_dim
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(kv_in_dim, self.internal_dim)
        self.v_proj = nn.Linear(kv_in_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)
        # Rotary attention projects queries and keys in half-split channel order (see rope.py); the
        # reordered weights are constants of the exported graph.
        order = None
        if rotary:
            head = half_split_order(self.internal_dim // num_heads)
            order = torch.cat([head + h * len(head) for h in range(num_heads)])
        self.register_buffer("qk_order", order, persistent=False)
        # Queries attend in chunks of this many tokens: softmax is per query, so the result is the same, and
        # each chunk's score matrix stays in cache (4096² fp32 scores are 64 MB per object; chunks of 1024
        # made memory attention 5–14 % faster in onnxruntime at 1024², more with more objects).
        self.query_chunk = query_chunk
        self.fused = False  # one head only: attend through onnxruntime's fused kernel (see fused_attention)

    def _project_qk(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        if self.qk_order is None:
            return layer(x)
        return F.linear(x, layer.weight[self.qk_order], layer.bias[self.qk_order])

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        if self.num_heads == 1:
            return x.unsqueeze(1)  # a view: no transpose to copy (memory attention's 4096-token maps)
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        if self.num_heads == 1:
            return x.squeeze(1)
        return x.transpose(1, 2).flatten(2)

    def queries(self, q: torch.Tensor, q_rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Tokens [B, n, C] → projected queries [B, heads, n, d], rotated by tables for exactly these tokens."""
        q = self._split(self._project_qk(self.q_proj, q))
        return q if q_rope is None else apply_rope(q, *q_rope)

    def keys_values(
        self,
        k: torch.Tensor,
        v: torch.Tensor,
        k_rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        rotate_keys: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Key and value tokens → projected keys and values [B, heads, N, d], keys rotated."""
        k = self._split(self._project_qk(self.k_proj, k))
        if k_rope is not None:
            k = apply_rope(k, *k_rope)
        if rotate_keys is not None:
            k = rotate_keys(k)
        return k, self._split(self.v_proj(v))

    def output(self, heads: torch.Tensor) -> torch.Tensor:
        """Attention result [B, heads, n, d] → tokens [B, n, C]."""
        return self.out_proj(self._merge(heads))

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        bias: torch.Tensor | None = None,
        q_rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        k_rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        rotate_keys: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        q = self.queries(q, q_rope)
        k, v = self.keys_values(k, v, k_rope, rotate_keys)
        if self.fused and bias is None:  # the kernel tiles the queries itself: all of them in one call
            out = fused_attend(q, k, v, scale=(self.internal_dim // self.num_heads) ** -0.5)
        elif self.fused:
            out = attend_biased_keys(q, keys_with_bias(k, bias), v, fused=True)
        elif self.query_chunk is None:
            out = attend(q, k, v, bias)
        else:
            out = torch.cat([attend(chunk, k, v, bias) for chunk in q.split(self.query_chunk, dim=-2)], dim=-2)
        return self.output(out)


class MLP(nn.Module):
    """Stack of linear layers with an activation between them (SAM's `MLP`)."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        activation: type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = activation()
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return torch.sigmoid(x) if self.sigmoid_output else x


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW tensor.

    Wide maps go through F.layer_norm on a channels-last view (Core ML fuses it; it stays finite in float16).
    Maps with few channels are normalized along the channel axis in place instead: in onnxruntime the
    transposes and a layer norm over only 4 or 16 channels at 512² and 256² (the mask downsampler) took
    25 of the memory encoder's 150 ms, while reducing over a wide channel axis is slower than the
    transposes. With `overflow_safe` (set by `float16_safe` while float16 graphs are exported), deviations
    are divided by their largest magnitude before they are squared, so float16 stays finite where
    (x − mean)² overflows (|x − mean| > 256); the result is the same, but float32 graphs skip those three
    passes over the map (about 4 ms of the memory encoder at 1024²).
    """

    IN_PLACE_BELOW = 32  # channels

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps
        self.in_place = num_channels < self.IN_PLACE_BELOW
        self.overflow_safe = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.in_place:
            x = F.layer_norm(x.permute(0, 2, 3, 1), self.weight.shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)
        d = x - x.mean(1, keepdim=True)
        if not self.overflow_safe:
            y = d * torch.rsqrt((d * d).mean(1, keepdim=True) + self.eps)
            return y * self.weight[:, None, None] + self.bias[:, None, None]
        # + 1e-6 keeps an all-equal pixel at 0 instead of 0/0; it cancels out of the result below.
        scale = d.abs().amax(1, keepdim=True) + 1e-6
        u = d / scale
        y = u * torch.rsqrt((u * u).mean(1, keepdim=True) + self.eps / (scale * scale))
        return y * self.weight[:, None, None] + self.bias[:, None, None]


@contextmanager
def _switched_on(modules: list[nn.Module], flag: str) -> Iterator[None]:
    """Sets the boolean attribute `flag` on `modules` for the duration of the block (export-time switches)."""
    for m in modules:
        setattr(m, flag, True)
    try:
        yield
    finally:
        for m in modules:
            setattr(m, flag, False)


def fused_attention(module: nn.Module, enabled: bool = True) -> AbstractContextManager[None]:
    """While exporting graphs for onnxruntime: every one-head Attention in `module` (memory attention's)
    attends through onnxruntime's fused kernel (see fused_attention.py)."""
    layers = [m for m in module.modules() if isinstance(m, Attention) and m.num_heads == 1]
    return _switched_on(layers if enabled else [], "fused")


def float16_safe(module: nn.Module, enabled: bool = True) -> AbstractContextManager[None]:
    """While exporting float16 graphs: every module in `module` with an `overflow_safe` switch takes its
    float16-safe path (LayerNorm2d: deviations rescaled before squaring; the RepViT SqueezeExcite: its
    global mean in float32)."""
    layers = [m for m in module.modules() if hasattr(m, "overflow_safe")]
    return _switched_on(layers if enabled else [], "overflow_safe")
