"""Fitted rounding (GPTQ with the compression presets' grids): values on the grid, outputs kept better than by
nearest rounding on inputs the fit never saw, the right layers replaced when the stage runs, and the fitted
tables stored exactly by the Core ML compression (which is what makes the figures real)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgetam_export import coreml_compression as cc
from edgetam_export import fitted_rounding as fr
from edgetam_export import to_coreml
from edgetam_export.examples import example_inputs
from edgetam_export.metrics import cosine
from reference_model.attention import float16_safe
from runtime.contract import STAGES, model_sizes


class _Layers(nn.Module):
    """A convolution, a depthwise one, a 1×1 conv whose weight is computed in the forward pass, a linear
    layer, and one too small to compress."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(16, 64, 3, padding=1)
        self.depthwise = nn.Conv2d(64, 64, 3, padding=1, groups=64)
        self.inner = nn.Parameter(torch.randn(48, 64, generator=gen) / 8)
        self.outer = nn.Parameter(torch.randn(64, 48, generator=gen) / 7)
        self.linear = nn.Linear(64, 96)
        self.small = nn.Linear(96, 4)
        for module in (self.conv, self.depthwise, self.linear, self.small):
            nn.init.normal_(module.weight, std=module.weight[0].numel() ** -0.5, generator=gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.depthwise(F.gelu(self.conv(x))))
        x = F.conv2d(x, (self.outer @ self.inner)[:, :, None, None])  # a weight made in the forward pass
        return self.small(F.gelu(self.linear(x.flatten(2).transpose(1, 2))))


def _correlated_images(count: int, seed: int) -> torch.Tensor:
    """Smooth random images: neighbouring pixels and channels correlate, so the layers' Hessians do too. The
    channel mix is the same for every seed: held-out images come from the calibration's distribution (fitted
    on one mix and judged on another, the outputs moved more than with nearest rounding)."""
    mix = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(seed)
    low = torch.randn(count, 4, 8, 8, generator=gen)
    images = torch.einsum("cd,bdhw->bchw", mix, F.interpolate(low, size=(16, 16), mode="bilinear"))
    return images + 0.1 * torch.randn(images.shape, generator=gen)


def _nearest(module: _Layers, preset: str) -> fr.FittedWeights:
    """The module with the same layers rounded to their nearest grid values (same grids, no compensation)."""
    with torch.no_grad():
        weights = {
            "conv.weight": module.conv.weight,
            "call 2": (module.outer @ module.inner)[:, :, None, None],
            "linear.weight": module.linear.weight,
        }
        rounded = {}
        for key, weight in weights.items():
            layer = fr.Layer("conv" if weight.dim() == 4 else "linear", weight)
            rounded[key] = fr.grid_for(preset, layer).nearest(layer.rows().double()).reshape(weight.shape).float()
    return fr.FittedWeights(module, rounded, {}, dict.fromkeys(rounded, preset))


@pytest.mark.parametrize("preset", ["palettize4", "int8"])
def test_fitted_weights_lie_on_the_grid_and_keep_outputs_better(preset):
    module = _Layers().eval()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    fitted = fr.fit_weights(module, (_correlated_images(16, seed=1),), preset, min_elements=2048)
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in before.items()), "the stage was modified"
    # conv (9216), depthwise (576: below 2048, kept), the composed 1×1 (4096), linear (6144); small (384) kept
    assert set(fitted.fitted) == {"conv.weight", "call 2", "linear.weight"}
    assert fitted.report["layers"] == 3 and fitted.report["weights"] == 9216 + 4096 + 6144
    for key, weight in fitted.fitted.items():
        values = weight.double().flatten(1)
        if preset == "int8":
            scale = values.abs().amax(dim=1, keepdim=True) / 127
            assert torch.allclose(values / scale, (values / scale).round(), atol=1e-4), key
        else:
            assert torch.unique(values).numel() <= 16, key
    held_out = _correlated_images(8, seed=2)
    with torch.no_grad():
        want = module(held_out)
        error_fitted = (fitted(held_out) - want).square().sum()
        error_nearest = (_nearest(module, preset)(held_out) - want).square().sum()
    print(f"{preset}: output error fitted / nearest on held-out inputs {float(error_fitted / error_nearest):.3f}")
    assert error_fitted < 0.8 * error_nearest


def test_skipped_op_types_and_small_layers_keep_their_weights():
    module = _Layers().eval()
    fitted = fr.fit_weights(module, (_correlated_images(4, seed=1),), "palettize6", 2048, skip_ops=("conv",))
    assert set(fitted.fitted) == {"linear.weight"}
    with pytest.raises(ValueError, match="needs a compression preset"):
        fr.fit_weights(module, (_correlated_images(1, seed=1),), "none", 2048)


def test_exact_tables_survive_float16_and_numpys_unique():
    """Fitted weights hold ≤ 2^n values; cast to float16 for the package, `lut_of` must return them as the
    table. numpy 2.4's unique on this float16 array returns 94 "distinct" values of 64 (a bug), which sent
    43 of the image encoder's 79 fitted tensors back to k-means before `lut_of` widened them."""
    rng = np.random.default_rng(0)
    values = rng.choice(rng.standard_normal(64).astype(np.float32), (384, 192)).astype(np.float16)
    table, indices = cc.lut_of(values, 6)
    assert np.array_equal(table[indices].reshape(values.shape), values)
    spread = rng.standard_normal((64, 64)).astype(np.float16)  # 4096 distinct values: k-means
    table, indices = cc.lut_of(spread, 6)
    assert len(np.unique(table.astype(np.float64))) > 32 and not np.array_equal(table[indices].reshape(64, 64), spread)


def test_fitted_image_encoder_package_is_stored_exactly_and_beats_nearest(tiny_stages, monkeypatch, tmp_path):
    """The image encoder at 256², 6-bit: every fitted tensor reaches the package as its own table (k-means never
    runs while compressing), and through the interpreter its vision_feats are closer to float32 torch than with
    nearest rounding (measured: cosine 0.983 against 0.958)."""
    from runtime.mlprogram import Program

    name, stage = "image_encoder", STAGES["image_encoder"]
    sizes = {**model_sizes(tiny_stages.cfg.to_dict()), "K": 2, "N": 7, "P": 4}
    module = tiny_stages.image_encoder
    inputs = example_inputs(name, {**sizes, "B": 1}, seed=100)
    with torch.no_grad():
        want = module(inputs["image"])[0].numpy()
    fitted = fr.fit_weights(module, fr.calibration_inputs(name, sizes, []), "palettize6", cc.MIN_ELEMENTS)
    assert fitted.report["layers"] == 79
    figures = {}
    kmeans_calls: list[int] = []
    original = cc.kmeans_table

    def counting(values: np.ndarray, nbits: int):
        kmeans_calls.append(1)
        return original(values, nbits)

    for rounding, candidate in (("nearest", module), ("fitted", fitted)):
        with float16_safe(candidate):
            mlmodel, _ = to_coreml.convert_stage(candidate, stage, sizes, 1, "fp16")
        kmeans_calls.clear()
        monkeypatch.setattr(cc, "kmeans_table", counting)
        compressed = cc.compress_model(mlmodel, "palettize6")
        monkeypatch.undo()
        if rounding == "fitted":
            assert kmeans_calls == [], f"{len(kmeans_calls)} fitted tensors were re-fitted by k-means"
        else:
            assert len(kmeans_calls) == 79
        path = tmp_path / f"{rounding}.mlpackage"
        compressed.save(str(path))
        got = Program(path, name).run({"image": inputs["image"].numpy()})["vision_feats"]
        figures[rounding] = cosine(got, want)
    print(f"image encoder 256², palettize6, vision_feats cosine: {figures}")
    assert figures["fitted"] > figures["nearest"] + 0.01
