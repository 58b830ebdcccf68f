"""RepViTBackbone against timm's features_only RepViT-M1 (the trunk EdgeTAM checkpoints were saved from)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reference_model.backbone import RepViTBackbone

timm = pytest.importorskip("timm")

STRIDES = (4, 8, 16, 32)
CHANNELS = (48, 96, 192, 384)
REL_TOL = 1e-4


def _build_timm_trunk() -> nn.Module:
    return timm.create_model(
        "repvit_m1.dist_in1k", pretrained=False, in_chans=3, features_only=True, out_indices=(0, 1, 2, 3)
    )


@torch.no_grad()
def _redraw_order_one(model: nn.Module, seed: int = 0) -> None:
    """Replace init values (BN weight 1 / bias 0 / stats 0,1, some BN weights 0) with random
    order-one ones, so a swapped or skipped tensor cannot go unnoticed."""
    gen = torch.Generator().manual_seed(seed)

    def normal(t: torch.Tensor) -> torch.Tensor:
        return torch.randn(t.shape, generator=gen, dtype=t.dtype)

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()  # in_channels / groups * kernel area
            module.weight.copy_(normal(module.weight) / fan_in**0.5)
            if module.bias is not None:
                module.bias.copy_(0.1 * normal(module.bias))
        elif isinstance(module, nn.modules.batchnorm._NormBase):
            module.weight.copy_(1 + 0.1 * normal(module.weight))
            module.bias.copy_(0.1 * normal(module.bias))
            module.running_mean.copy_(0.1 * normal(module.running_mean))
            module.running_var.copy_(1 + 0.1 * normal(module.running_var).abs())


@pytest.fixture(scope="module")
def models() -> tuple[nn.Module, RepViTBackbone]:
    torch.manual_seed(0)
    reference = _build_timm_trunk()
    _redraw_order_one(reference)
    ours = RepViTBackbone()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference.eval(), ours.eval()


def test_state_dict_keys_and_shapes_match(models: tuple[nn.Module, RepViTBackbone]) -> None:
    reference, ours = models
    ref_sd, our_sd = reference.state_dict(), ours.state_dict()
    assert set(ref_sd) == set(our_sd)
    assert {k: tuple(v.shape) for k, v in ref_sd.items()} == {k: tuple(v.shape) for k, v in our_sd.items()}


def test_features_match_timm(models: tuple[nn.Module, RepViTBackbone]) -> None:
    reference, ours = models
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(x)
        actual = ours(x)
    assert len(actual) == len(expected) == 4
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a.shape == e.shape == (1, CHANNELS[i], 256 // STRIDES[i], 256 // STRIDES[i])
        rel = ((a - e).abs().max() / e.std()).item()
        assert rel <= REL_TOL, f"output {i} (stride {STRIDES[i]}): max|diff|/std = {rel:.3g}"
