"""Weights with late-stage activations in the hundreds (`synthetic_model(feature_scale=...)`), and the
float16 export changes they motivated: the RepViT squeeze-excite gates computed in float32, and the folded
conv weights computed in float64 and rounded to float16 once."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from edgetam_export.examples import example_inputs
from edgetam_export.export import float16_stages
from edgetam_export.metrics import cosine, psnr
from edgetam_export.to_onnx import export_onnx
from edgetam_export.verify import FP16_MIN_COSINE, FP16_MIN_PSNR
from edgetam_export.weights import export_source_model
from reference_model import EdgeTamConfig, Stages, synthetic_model
from reference_model.attention import float16_safe
from reference_model.backbone import ConvBN, RepDepthwiseMixer, SqueezeExcite
from runtime.contract import STAGES
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


def _folds_rounded_once(model) -> dict[str, np.ndarray]:
    """Every batch-norm fold and re-parameterized token mixer of the image encoder, computed in float64 from
    the float32 weights and rounded to float32 then float16 (what a float16 export's conv weights must be)."""
    encoder = Stages(copy.deepcopy(model)).eval().image_encoder
    mixers = [m for m in encoder.modules() if isinstance(m, RepDepthwiseMixer)]
    inside = {id(branch) for m in mixers for branch in (m.conv, m.conv1)}  # replaced by their mixer's conv
    want = {}
    for name, m in encoder.named_modules():
        if isinstance(m, RepDepthwiseMixer) or (isinstance(m, ConvBN) and id(m) not in inside):
            wide = copy.deepcopy(m).double()
            weight, _ = wide.single_conv() if isinstance(m, RepDepthwiseMixer) else wide.folded()
            want[name] = weight.detach().float().half().numpy()
    return want


@pytest.fixture(scope="module")
def scaled_fp16_onnx(tmp_path_factory):
    """The 256² model with stride-16 features ×3 and its image encoder exported to float16 ONNX as the
    export does it (`float16_stages`, float32 gates, `export_onnx`); the other stages are left out for time."""
    model, _ = synthetic_model(SEED, EdgeTamConfig(image_size=TINY), feature_scale=3.0)
    module = float16_stages(Stages(model).eval()).image_encoder
    spec = STAGES["image_encoder"]
    example = {k: v.half() for k, v in example_inputs(spec.name, {"S": TINY}).items()}
    path = tmp_path_factory.mktemp("fp16_scaled") / "image_encoder.onnx"
    with float16_safe(module):
        export_onnx(module, spec, example, path, {})
    return model, path


def test_float16_onnx_folds_weights_once(scaled_fp16_onnx):
    """The float16 ONNX image encoder holds each folded conv weight as the float32 fold rounded to float16
    once (as a constant: no arithmetic on weights is left to the graph). Folded in the graph after
    `.half()`, every fold was float16 arithmetic on float16 statistics, 3–7 half-ulps off per weight."""
    import onnx
    from onnx import numpy_helper

    model, path = scaled_fp16_onnx
    graph = onnx.load(str(path)).graph
    held = {}
    constants = [a.t for n in graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    for tensor in [*graph.initializer, *constants]:
        value = numpy_helper.to_array(tensor)
        if value.dtype == np.float16 and value.ndim == 4:
            held.setdefault(value.shape, []).append(value)
    want = _folds_rounded_once(model)
    assert len(want) > 60
    missing = [name for name, w in want.items() if not any(np.array_equal(w, h) for h in held.get(w.shape, []))]
    assert not missing, f"{len(missing)} of {len(want)} folds are not the float32 fold rounded once: {missing[:5]}"


def test_float16_onnx_meets_bars_on_large_activations(scaled_fp16_onnx):
    """Every output of the float16 ONNX image encoder against the float32 torch stage, stride-16 std ~250
    (verify's first input). With the folds left to the graph vision_feats was cosine 0.9956 / 39.8 dB here."""
    import onnxruntime as ort

    model, path = scaled_fp16_onnx
    stages = Stages(model).eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image = example_inputs("image_encoder", {"S": TINY}, seed=100)["image"]
    with torch.no_grad():
        want = stages.image_encoder(image)
    got = session.run(None, {"image": image.half().numpy()})
    for name, g, w in zip(STAGES["image_encoder"].output_names, got, want, strict=True):
        print(f"{name}: cosine {cosine(g, w):.6f} PSNR {psnr(g, w):.1f} dB")
        assert cosine(g, w) >= FP16_MIN_COSINE and psnr(g, w) >= FP16_MIN_PSNR, name
