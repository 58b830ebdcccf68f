"""onnxruntime's fused attention kernel for one-head attention, switched on while ONNX graphs are exported.

onnxruntime's `com.microsoft.MultiHeadAttention` computes softmax(scale·q·kᵀ)·v tile by tile, so the score
matrix never leaves cache. For memory attention at 1024² (4096 queries over 4096 frame tokens or ~3,600
memory tokens) it ran 20–25 % faster than MatMul → Softmax → MatMul on this project's CPU, faster even than
the plain GEMM rate. The op exists only in onnxruntime, so the ONNX exporter switches it on per export
(`attention.fused_attention`; `--onnx-attention standard` leaves it off) and the manifest says which a graph
uses. Torch evaluation and Core ML keep the standard ops.

A key bias (padded memory slots) rides in the keys as an extra channel (`attention.keys_with_bias`): the
kernel's own key-padding mask input falls back to an unfused path that was slower than the plain graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ONNX_DOMAIN = "com.microsoft"


class _MultiHeadAttention(torch.autograd.Function):
    """softmax(scale·q·kᵀ)·v on [B, n, d] tensors (one head); traced as the onnxruntime op."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)

    @staticmethod
    def symbolic(g, q, k, v, scale: float):  # TorchScript graph values in, one out
        out = g.op(f"{ONNX_DOMAIN}::MultiHeadAttention", q, k, v, num_heads_i=1, scale_f=scale)
        # The exporter cannot infer a contrib op's output: [B, n] of the queries, the values' width.
        q_sizes, v_sizes = q.type().varyingSizes(), v.type().varyingSizes()
        out.setType(q.type().with_sizes([*q_sizes[:2], v_sizes[2]]))
        return out


def fused_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """One-head attention through the fused kernel: q [B, 1, n, d], k [B, 1, N, d], v [B, 1, N, dv] →
    [B, 1, n, dv]. Heads are dropped by reshapes (squeeze on a dynamic batch traces to an `If`)."""
    out = _MultiHeadAttention.apply(q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1), scale)
    return out.unsqueeze(1)
