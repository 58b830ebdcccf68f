"""RepViT-M1 image trunk of EdgeTAM, in plain PyTorch.

Computes the same ops, in the same order, as timm's
`create_model("repvit_m1.dist_in1k", features_only=True, out_indices=(0, 1, 2, 3))` and uses the
same module names, so a checkpoint's `image_encoder.trunk.body.*` tensors load by name. Returns the
four stage outputs at strides 4, 8, 16 and 32.

Everything is a conv, batch norm, GELU/ReLU/sigmoid, mean, add or multiply, with no branching on
tensor values, so the module traces cleanly to ONNX and Core ML. Batch norms stay separate modules
(not folded into the convs) so the state dict matches the checkpoint.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class RepViTConfig:
    # From timm `repvit_m1` (embed_dim, depth, legacy=True) plus `RepVit`/`SEModule` defaults.
    in_chans: int = 3
    embed_dims: tuple[int, ...] = (48, 96, 192, 384)
    depths: tuple[int, ...] = (2, 2, 14, 2)
    mlp_ratio: int = 2  # hidden width of every 1x1 conv FFN, relative to its input
    kernel_size: int = 3  # depthwise kernel of token mixers and spatial downsamples
    se_ratio: float = 0.25  # squeeze-excite bottleneck, before rounding to `se_divisor`
    se_divisor: int = 8
    bn_eps: float = 1e-5  # nn.BatchNorm2d default; timm does not override it


REPVIT_M1 = RepViTConfig()


def se_hidden_channels(channels: int, ratio: float, divisor: int) -> int:
    """Nearest multiple of `divisor` to `channels * ratio`, at least `divisor` (timm's make_divisible
    with round_limit=0, so it never bumps up). 48 -> 16, 96 -> 24, 192 -> 48, 384 -> 96."""
    return max(divisor, int(channels * ratio + divisor / 2) // divisor * divisor)


class ConvBN(nn.Module):
    """Bias-free conv followed by batch norm (`c`, `bn` as in the checkpoint)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.c = nn.Conv2d(in_ch, out_ch, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=eps)
        # The folded conv, once `fold_constants_` has computed it (not in the state dict).
        self.register_buffer("fused_weight", None, persistent=False)
        self.register_buffer("fused_bias", None, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.fused_weight is not None:
            c = self.c
            return F.conv2d(x, self.fused_weight, self.fused_bias, c.stride, c.padding, c.dilation, c.groups)
        return self.bn(self.c(x))

    def folded(self) -> tuple[Tensor, Tensor]:
        """Weight and bias of the one conv equal to this conv + batch norm (running statistics)."""
        gain = self.bn.weight * torch.rsqrt(self.bn.running_var + self.bn.eps)
        return self.c.weight * gain[:, None, None, None], self.bn.bias - self.bn.running_mean * gain


class RepDepthwiseMixer(nn.Module):
    """Token mixer: depthwise kxk ConvBN + depthwise 1x1 ConvBN + identity.

    This is the "legacy" RepVGG-style branch used by M1: each branch has its own BN and there is no
    BN after the sum (non-legacy variants put one there).
    """

    def __init__(self, dim: int, kernel_size: int, eps: float) -> None:
        super().__init__()
        self.conv = ConvBN(dim, dim, kernel_size, groups=dim, eps=eps)
        self.conv1 = ConvBN(dim, dim, 1, groups=dim, eps=eps)
        centre = torch.zeros(kernel_size, kernel_size)
        centre[kernel_size // 2, kernel_size // 2] = 1.0
        self.register_buffer("centre", centre, persistent=False)  # not in checkpoints: a constant
        # Set by the image encoder stage: run the three branches as the one depthwise conv they equal.
        self.reparameterized = False
        # That conv, once `fold_constants_` has computed it (not in the state dict).
        self.register_buffer("fused_weight", None, persistent=False)
        self.register_buffer("fused_bias", None, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.reparameterized:
            if self.fused_weight is None:
                weight, bias = self.single_conv()
            else:
                weight, bias = self.fused_weight, self.fused_bias
            return F.conv2d(x, weight, bias, padding=self.conv.c.padding, groups=self.conv.c.groups)
        # Same summation order as timm, so float rounding matches.
        return self.conv(x) + self.conv1(x) + x

    def single_conv(self) -> tuple[Tensor, Tensor]:
        """RepVGG re-parameterization (eval mode): the kxk branch, plus the 1x1 branch and the identity at
        the kernel's centre. Folded into a constant at export; one conv instead of two and two adds.

        The centre is added through a one-hot kernel (x + y·1 at the centre, x + y·0 elsewhere: the same
        floats as an indexed add) because exporters fold products and sums of constants but not an indexed
        write: Core ML kept 23 `scatter`s computing the kernels at every prediction, their parts stored apart."""
        weight, bias = self.conv.folded()
        weight1, bias1 = self.conv1.folded()
        return weight + (weight1 + 1.0) * self.centre, bias + bias1


class SqueezeExcite(nn.Module):
    """Channel gate: global mean -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid, times the input.

    With `overflow_safe` (set by `attention.float16_safe` while float16 graphs are exported) the gate is
    computed in float32, from the global mean to the sigmoid. Where the trunk's activations reach the
    hundreds (as a trained trunk's stride-16 stage may), the gate's logits do too; float16 stores them in
    steps of 0.25–0.5, and near the sigmoid's middle that scales whole channels wrong. Measured in the
    Core ML program at 1024² on `synthetic_model(feature_scale=8)` weights (stride-16 std ~700), the
    per-op comparison ranked the gate sigmoids first (37–82× the error of their inputs) and keeping the
    gate in float32 moved vision_feats from cosine 0.9928 / 38.2 dB to 0.9978 / 43.2 dB. It works on
    [B, C, 1, 1] tensors, so float32 costs nothing measurable.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.overflow_safe = False

    def forward(self, x: Tensor) -> Tensor:
        if self.overflow_safe:
            fc1, fc2 = self.fc1, self.fc2
            pooled = x.float().mean((2, 3), keepdim=True)
            hidden = F.relu(F.conv2d(pooled, fc1.weight.float(), fc1.bias.float()))
            gate = F.conv2d(hidden, fc2.weight.float(), fc2.bias.float())
            return x * torch.sigmoid(gate).to(x.dtype)
        gate = self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class ConvFFN(nn.Module):
    """Channel mixer: 1x1 ConvBN expand -> GELU (exact erf) -> 1x1 ConvBN project. No residual here."""

    def __init__(self, dim: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.conv1 = ConvBN(dim, hidden, eps=eps)
        self.conv2 = ConvBN(hidden, dim, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(F.gelu(self.conv1(x)))


class RepViTBlock(nn.Module):
    """Token mixer, optional squeeze-excite, then a residual channel mixer.

    The token mixer carries its own identity, so the block's residual only wraps the FFN; the SE
    output (not the block input) is what the FFN residual adds back.
    """

    def __init__(self, dim: int, use_se: bool, cfg: RepViTConfig) -> None:
        super().__init__()
        self.token_mixer = RepDepthwiseMixer(dim, cfg.kernel_size, cfg.bn_eps)
        # Identity keeps the `se` name without adding keys to the state dict.
        self.se: nn.Module = (
            SqueezeExcite(dim, se_hidden_channels(dim, cfg.se_ratio, cfg.se_divisor)) if use_se else nn.Identity()
        )
        self.channel_mixer = ConvFFN(dim, dim * cfg.mlp_ratio, cfg.bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = self.se(self.token_mixer(x))
        return x + self.channel_mixer(x)


class PatchMergeDownsample(nn.Module):
    """Stride-2 transition between stages: a plain block (no SE) at the old width, a depthwise
    stride-2 ConvBN, a 1x1 ConvBN to the new width, then a residual FFN at the new width."""

    def __init__(self, in_dim: int, out_dim: int, cfg: RepViTConfig) -> None:
        super().__init__()
        self.pre_block = RepViTBlock(in_dim, use_se=False, cfg=cfg)
        self.spatial_downsample = ConvBN(in_dim, in_dim, cfg.kernel_size, stride=2, groups=in_dim, eps=cfg.bn_eps)
        self.channel_downsample = ConvBN(in_dim, out_dim, eps=cfg.bn_eps)
        self.ffn = ConvFFN(out_dim, out_dim * cfg.mlp_ratio, cfg.bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = self.channel_downsample(self.spatial_downsample(self.pre_block(x)))
        return x + self.ffn(x)


class ConvStem(nn.Module):
    """Two stride-2 3x3 ConvBNs with a GELU between (stride 4, half width in the middle)."""

    def __init__(self, in_ch: int, out_ch: int, eps: float) -> None:
        super().__init__()
        self.conv1 = ConvBN(in_ch, out_ch // 2, 3, stride=2, eps=eps)
        self.conv2 = ConvBN(out_ch // 2, out_ch, 3, stride=2, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(F.gelu(self.conv1(x)))


class RepViTStage(nn.Module):
    """Optional downsample, then `depth` blocks with SE on every other one (first, third, ...)."""

    def __init__(self, in_dim: int, out_dim: int, depth: int, downsample: bool, cfg: RepViTConfig) -> None:
        super().__init__()
        self.downsample: nn.Module = PatchMergeDownsample(in_dim, out_dim, cfg) if downsample else nn.Identity()
        # SE parity restarts at each stage; the downsample's pre_block never has SE.
        self.blocks = nn.Sequential(*(RepViTBlock(out_dim, use_se=(i % 2 == 0), cfg=cfg) for i in range(depth)))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.downsample(x))


class RepViTBackbone(nn.Module):
    """RepViT trunk returning the four stage outputs (strides 4, 8, 16, 32).

    Stages are registered as `stages_0` ... `stages_3`: timm's features_only wrapper flattens
    `stages.<i>` to `stages_<i>`, and the checkpoint was saved from that wrapper.
    """

    def __init__(self, cfg: RepViTConfig = REPVIT_M1) -> None:
        super().__init__()
        self.cfg = cfg
        self.stem = ConvStem(cfg.in_chans, cfg.embed_dims[0], cfg.bn_eps)
        in_dim = cfg.embed_dims[0]
        self.stage_names: tuple[str, ...] = tuple(f"stages_{i}" for i in range(len(cfg.embed_dims)))
        for i, (name, out_dim, depth) in enumerate(zip(self.stage_names, cfg.embed_dims, cfg.depths, strict=True)):
            self.add_module(name, RepViTStage(in_dim, out_dim, depth, downsample=i > 0, cfg=cfg))
            in_dim = out_dim

    @property
    def channels(self) -> tuple[int, ...]:
        return self.cfg.embed_dims

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        features = []
        for name in self.stage_names:
            x = getattr(self, name)(x)
            features.append(x)
        return features


@torch.no_grad()
def fold_constants_(module: nn.Module) -> nn.Module:
    """Compute every batch-norm fold and token-mixer re-parameterization in `module` once, in float64, and
    run the module on the results (in place; the state dict is unchanged; returns `module`).

    Traced as they stand, the folds are arithmetic on the weights that the exporter and the runtime fold into
    constants in the graph's dtype. After `.half()` that is float16 arithmetic on float16-rounded statistics:
    var + eps, the rsqrt, gamma · that, w · gain, beta − mean · gain each round again (the last cancels).
    Measured on the 1024² synthetic weights: 3–7 float16 half-ulps off per weight tensor instead of ≤ 1,
    which on weights with stride-16 std ~250 took the float16 ONNX vision_feats from cosine 0.99993 to 0.9851.
    Folded here, each constant is rounded to the export dtype once, as a Core ML export's (folded in
    float32, then cast) is."""
    for m in module.modules():
        if isinstance(m, RepDepthwiseMixer) and m.reparameterized:
            dtype = m.conv.c.weight.dtype
            m.fused_weight, m.fused_bias = (t.to(dtype) for t in copy.deepcopy(m).double().single_conv())
        elif isinstance(m, ConvBN):
            dtype = m.c.weight.dtype
            m.fused_weight, m.fused_bias = (t.to(dtype) for t in copy.deepcopy(m).double().folded())
    return module
