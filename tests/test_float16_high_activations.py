"""Weights with late-stage activations in the hundreds (`synthetic_model(feature_scale=...)`), and the
float16 export change they motivated: the RepViT squeeze-excite gates computed in float32."""

from __future__ import annotations

import copy

import torch

from edgetam_export.weights import export_source_model
from reference_model import EdgeTamConfig, Stages, synthetic_model
from reference_model.attention import float16_safe
from reference_model.backbone import SqueezeExcite
from tests.conftest import SEED, TINY


def _stride16_std(model, seed: int = 5) -> float:
    x = torch.randn(1, 3, TINY, TINY, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return float(model.image_encoder.trunk.body(x)[2].std())


def test_feature_scale_draws_large_late_activations_and_is_recorded():
    base, info = synthetic_model(SEED, EdgeTamConfig(image_size=TINY))
    scaled, scaled_info = synthetic_model(SEED, EdgeTamConfig(image_size=TINY), feature_scale=3.0)
    assert info.feature_scale is None and scaled_info.feature_scale == 3.0
    assert "×3" in scaled_info.describe()
    assert _stride16_std(scaled) > 3 * _stride16_std(base)
    # An export's manifest rebuilds the same weights.
    manifest = {"model": {"config": scaled.cfg.to_dict()}, "weights": scaled_info.to_dict()}
    rebuilt = export_source_model(manifest)
    for (name, a), b in zip(scaled.state_dict().items(), rebuilt.state_dict().values()):
        assert torch.equal(a, b), name


def test_float16_safe_gate_is_float32_and_exact():
    """The switched squeeze-excite gives the float32 result in float32, and in a float16 module its gate
    is nearer the float32 gate than the plain float16 path (inputs in the hundreds)."""
    torch.manual_seed(0)
    se = SqueezeExcite(64, 16).eval()
    x = torch.randn(2, 64, 33, 31) * 300
    with torch.no_grad():
        want = se(x)
        with float16_safe(se):
            assert se.overflow_safe
            torch.testing.assert_close(se(x), want, rtol=1e-5, atol=1e-3)
        assert not se.overflow_safe
        half = copy.deepcopy(se).half()
        plain = half(x.half()).float()
        with float16_safe(half):
            safe = half(x.half()).float()
    gate = want / x
    assert (safe / x.half().float() - gate).abs().max() < (plain / x.half().float() - gate).abs().max()


def test_stages_switch_every_gate():
    stages = Stages(synthetic_model(SEED, EdgeTamConfig(image_size=TINY))[0])
    gates = [m for m in stages.image_encoder.modules() if isinstance(m, SqueezeExcite)]
    assert len(gates) > 5
    with float16_safe(stages.image_encoder):
        assert all(g.overflow_safe for g in gates)
    assert not any(g.overflow_safe for g in gates)
