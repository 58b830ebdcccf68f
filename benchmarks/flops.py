"""FLOPs and parameters of each stage, counted on the stage modules the exports are traced from.

torch's FlopCounterMode counts convolutions and matrix products, but not the two products inside
`scaled_dot_product_attention` on the CPU (q·kᵀ and p·v), which are most of memory attention. Those are
counted here by hand, 2·L·S·(d_qk + d_v) per head, and kept apart so the report can show them, together
with the attention products the stages write out themselves (memory attention's cross-attention, whose
keys carry the padding bias as one more channel): every product of two [B, heads, tokens, d] tensors. The stages
are built on the meta device: shapes only, no weights and no arithmetic, so counting at 1024² is instant.
A multiply-add is 2 FLOPs; softmax, norms and activations are not counted (they are not GEMM work).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from edgetam_export.examples import example_arrays
from reference_model import EdgeTamConfig, Stages
from reference_model.edgetam import EdgeTAM
from runtime.contract import STAGES, model_sizes


@dataclass(frozen=True)
class StageCost:
    flops: int  # everything counted, attention products included
    attention_flops: int  # the hand-counted q·kᵀ and p·v
    params: int


class _AttentionProducts(TorchFunctionMode):
    """Counts scaled_dot_product_attention's two products and returns an empty (meta) result instead."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            q, k, v = args[:3]
            heads = math.prod(torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
            self.flops += 2 * heads * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])
            return q.new_empty((*q.shape[:-1], v.shape[-1]))
        if func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__) and all(a.dim() == 4 for a in args[:2]):
            a, b = args[:2]
            batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            self.flops += 2 * math.prod(batch) * a.shape[-2] * a.shape[-1] * b.shape[-1]
            return a.new_empty((*batch, a.shape[-2], b.shape[-1]))
        return func(*args, **kwargs)


def meta_stages(config: dict) -> Stages:
    with torch.device("meta"):
        return Stages(EdgeTAM(EdgeTamConfig.from_dict(config))).eval().requires_grad_(False)


def count_stage(stages: Stages, stage: str, sizes: dict[str, int]) -> StageCost:
    """Counted cost of one call of `stage` with the symbolic sizes `sizes` (B, K, N, P)."""
    module = getattr(stages, stage)
    full = {**model_sizes(stages.cfg.to_dict()), **sizes}
    arrays = example_arrays(stage, full)
    args = [torch.empty(arrays[name].shape, device="meta") for name in STAGES[stage].input_names]
    attention = _AttentionProducts()
    with torch.no_grad(), FlopCounterMode(display=False) as counter, attention:
        module(*args)
    params = sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())
    return StageCost(counter.get_total_flops() + attention.flops, attention.flops, params)
