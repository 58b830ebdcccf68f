"""The `mixed` compression preset: each layer's storage (a 4-, 6- or 8-bit table, int8 per channel or float16)
chosen from measured sensitivity (mixed_precision), fitted, stored so by the Core ML compression, and judged
against the cosine target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgetam_export import coreml_compression as cc
from edgetam_export import fitted_rounding as fr
from edgetam_export import mixed_precision as mp
from edgetam_export import to_coreml
from edgetam_export.examples import example_inputs
from edgetam_export.export import coreml_stage_module, size_bytes
from edgetam_export.metrics import cosine
from reference_model.attention import float16_safe
from runtime.contract import STAGES, model_sizes
from tests.test_fitted_rounding import _correlated_images, _Layers

METADATA = {"author": "tests", "license": "Apache-2.0", "version": "0.0.test", "weights": "{}"}


def _cost(elements: int, channels: int, p4: float, int8: float) -> mp.LayerCost:
    """Each table bit less costs ~16× more (measured: 15–17×); int8 as given; float16 nothing."""
    costs = {"palettize4": p4, "palettize6": p4 / 16, "palettize8": p4 / 256, "int8": int8, "none": 0.0}
    return mp.LayerCost(elements, channels, costs)


def test_allocation_spends_bytes_where_they_buy_the_most():
    costs = {
        "sensitive": _cost(4096, 64, 4e-3, 1e-5),  # small and sensitive: the stem
        "insensitive": _cost(262144, 512, 2e-4, 6e-7),  # large and robust: the last stage
    }
    assert mp.allocate(costs, 1.0) == {"sensitive": "palettize4", "insensitive": "palettize4"}
    assert mp.allocate(costs, 0.0) == {"sensitive": "none", "insensitive": "none"}  # nothing may move
    # 4.5e-4: the large layer at 4 bits, the small at 6
    assert mp.allocate(costs, 5e-4) == {"sensitive": "palettize6", "insensitive": "palettize4"}
    # below even int8's 1e-5 for the small layer: it stays float16 (8 KB), the large one takes 8-bit tables
    assert mp.allocate(costs, 5e-6) == {"sensitive": "none", "insensitive": "palettize8"}
    spent = [sum(costs[k].bytes_at(p) for k, p in mp.allocate(costs, b).items()) for b in (1e-5, 1e-4, 5e-4, 5e-3)]
    assert spent == sorted(spent, reverse=True) and len(set(spent)) == 4  # a larger budget, fewer bytes
    # channels of different scales: int8's scale per channel beats one 8-bit table per tensor
    scaled = {"scaled": _cost(65536, 128, 2.56e-2, 1e-6)}
    assert mp.allocate(scaled, 5e-5) == {"scaled": "int8"}


def test_table_bits_reads_the_width_off_the_distinct_values():
    rng = np.random.default_rng(0)
    for distinct, bits in ((16, 4), (40, 6), (64, 6), (65, 8), (256, 8), (4096, 8)):
        table = np.unique(rng.standard_normal(2 * distinct).astype(np.float16))[:distinct]
        values = table[rng.integers(0, distinct, 100_000)]  # large enough for numpy's float16 unique bug
        values[:distinct] = table
        assert cc.table_bits(values) == bits, distinct


def test_predicted_costs_add_up_to_the_measured_loss():
    """Per-layer predictions (one probe run per layer) summed over a mixed allocation match the loss of the
    module with all its layers rounded so, on held-out inputs (within a factor of 2; measured: 1.1)."""
    module = _Layers().eval()
    inputs = (_correlated_images(16, seed=1),)
    costs = mp.layer_costs(module, inputs, [inputs], 2048)
    assert set(costs) == {"conv.weight", "call 2", "linear.weight"}
    for c in costs.values():
        assert c.cost["palettize4"] > c.cost["palettize6"] > c.cost["palettize8"] > 0 == c.cost["none"]
        assert 0 < c.cost["int8"] < c.cost["palettize6"]
    choices = {"conv.weight": "palettize4", "call 2": "palettize6", "linear.weight": "int8"}
    predicted = sum(costs[k].cost[p] for k, p in choices.items())
    fitted = fr.fit_weights(module, inputs, "mixed", 2048, choices=choices)
    assert fitted.choices == choices
    for key, bits in (("conv.weight", 4), ("call 2", 6)):
        assert torch.unique(fitted.fitted[key]).numel() <= 1 << bits
    rows = fitted.fitted["linear.weight"].double()
    steps = rows / (rows.abs().amax(dim=1, keepdim=True) / 127)  # int8: whole steps of each row's own scale
    assert torch.allclose(steps, steps.round(), atol=1e-6)
    held_out = _correlated_images(16, seed=2)
    with torch.no_grad():
        measured = 1 - cosine(fitted(held_out).numpy(), module(held_out).numpy())
    print(f"predicted 1 − cosine {predicted:.2e}, measured {measured:.2e}")
    assert 0.5 < measured / predicted < 2
    with pytest.raises(ValueError, match="mixed preset"):
        fr.fit_weights(module, inputs, "palettize6", 2048, choices=choices)
    kept = fr.fit_weights(module, inputs, "mixed", 2048, choices={**choices, "linear.weight": "none"})
    assert torch.equal(kept.fitted["linear.weight"], module.linear.weight)  # float16: the weight itself


def _stored_as(path, layers: list[tuple[np.ndarray, str]]) -> list[str]:
    """How the package at `path` stores each of `layers` (weight values): a table of 2^n entries
    ("palettize<n>"), int8 ("int8") or float16 constants ("none"), read off its program. A layer is the stored
    weight of its shape that decodes closest to it ("missing" when none is within 20 %: other layers of its
    shape are unrelated weights, ~140 % away)."""
    from runtime.mlprogram.ops.compression import constexpr_affine_dequantize, constexpr_lut_to_dense
    from runtime.mlprogram.program import load_mil

    decoded: list[tuple[np.ndarray, str]] = []
    for op in load_mil(path).functions["main"].operations:
        if op.op_type == "constexpr_lut_to_dense":
            lut = op.inputs["lut"].val  # iOS 17: one table per tensor, indices packed at log2(its size) bits
            dense = constexpr_lut_to_dense(op.inputs["indices"].val, lut, tuple(op.inputs["shape"].val))
            decoded.append((dense, f"palettize{int(np.log2(lut.size))}"))
        elif op.op_type == "constexpr_affine_dequantize":
            args = {k: op.inputs[k].val for k in ("quantized_data", "zero_point", "scale", "axis")}
            decoded.append((constexpr_affine_dequantize(**args), "int8"))
        elif op.op_type == "const" and isinstance(op.outputs[0].val, np.ndarray):
            decoded.append((op.outputs[0].val, "none"))

    def storage(weight: np.ndarray) -> str:
        scale = np.linalg.norm(weight.astype(np.float64))
        errors = [
            (np.linalg.norm(dense.astype(np.float64) - weight) / scale, how)
            for dense, how in decoded
            if dense.shape == weight.shape
        ]
        error, how = min(errors, default=(np.inf, "missing"))
        return how if error < 0.2 else "missing"

    return [storage(w) for w, _ in layers]


def test_mixed_memory_encoder_meets_its_target_in_fewer_bytes(tiny_stages, tmp_path):
    """The memory encoder at 256² under `mixed`: the package stores each layer as chosen (every fitted weight
    exactly, found by value), records the choice, and through the interpreter keeps cosine ≥ the 0.999 target
    on inputs the choice never saw, smaller than int8 everywhere."""
    from runtime.mlprogram import Program

    name, stage = "memory_encoder", STAGES["memory_encoder"]
    sizes = {**model_sizes(tiny_stages.cfg.to_dict()), "K": 2, "N": 7, "P": 4}
    plan = cc.CompressionPlan("mixed")
    fitted = coreml_stage_module(tiny_stages, name, sizes, plan, [])
    chosen = fitted.report["mixed"]
    assert chosen["target_cosine"] == mp.TARGET_COSINE and chosen["predicted_lowest_cosine"] >= 1 - 1e-3 * mp.MARGIN
    assert sum(chosen["layers_by_preset"].values()) == fitted.report["layers"] and 4 <= chosen["mean_bits"] < 8
    paths = {}
    for preset in ("mixed", "int8"):
        module = (
            fitted
            if preset == "mixed"
            else coreml_stage_module(tiny_stages, name, sizes, cc.CompressionPlan(preset), [])
        )
        with float16_safe(module):
            mlmodel, batch = to_coreml.convert_stage(module, stage, sizes, 2, "fp16")
        paths[preset] = tmp_path / f"{preset}.mlpackage"
        plan = cc.CompressionPlan(preset)
        to_coreml.save_package(
            mlmodel, stage, sizes, METADATA, batch, "fp16", plan, paths[preset], to_coreml.layer_choices(module)
        )
    path = paths["mixed"]
    assert to_coreml.check_package(path, stage, sizes) == []
    assert cc.package_compression(path)["choices"] == list(cc.MIXED_CHOICES)
    layers = [(w.astype(np.float16), choice) for w, choice in fitted.layer_choices()]
    assert _stored_as(path, layers) == [choice for _, choice in layers]  # each layer as chosen
    assert size_bytes(path) < size_bytes(paths["int8"])
    worst = 1.0
    for seed in (100, 101):
        inputs = example_inputs(name, {**sizes, "B": 1}, seed=seed)
        with torch.no_grad():
            want = tiny_stages.memory_encoder(*[inputs[n] for n in stage.input_names]).numpy()
        got = Program(path, name).run({k: v.numpy() for k, v in inputs.items()})["mem_feats"]
        worst = min(worst, cosine(got, want))
    print(f"memory_encoder mixed: {chosen}, {size_bytes(path) / 1e6:.2f} MB, cosine {worst:.5f}")
    assert worst >= mp.TARGET_COSINE


def test_mixed_storage_applies_each_choice_and_stores_no_table(tmp_path):
    """`mixed` storage of a converted mask decoder at 384², whose 24×24 Fourier position map (147,456 values)
    is computed in the graph (coreml_folding): each layer is stored as its choice says, found by value, and
    no table is folded into a stored constant. (Compressing int8 first let coremltools' re-conversion fold
    the map from its still-plain coordinate grid: +1 MB at 1024².)"""
    from edgetam_export.coreml_folding import FOLD_LIMIT
    from reference_model import EdgeTamConfig, Stages, synthetic_model
    from runtime.mlprogram.program import load_mil

    stages = Stages(synthetic_model(0, EdgeTamConfig(image_size=384))[0]).eval()
    stage = STAGES["mask_decoder"]
    sizes = {**model_sizes(stages.cfg.to_dict()), "K": 2, "N": 7, "P": 4}
    assert stages.cfg.hidden_dim * (384 // stages.cfg.backbone_stride) ** 2 > FOLD_LIMIT
    with float16_safe(stages.mask_decoder):
        mlmodel, batch = to_coreml.convert_stage(stages.mask_decoder, stage, sizes, 1, "fp16")
    weights = [
        p.detach().numpy() for p in stages.mask_decoder.parameters() if p.dim() == 2 and p.numel() >= cc.MIN_ELEMENTS
    ]
    cycle = ("int8", "none", "palettize8")  # unfitted weights: tables by k-means at 8 bits
    layers = [(w, cycle[i % 3]) for i, w in enumerate(weights)]
    path = tmp_path / "mixed.mlpackage"
    plan = cc.CompressionPlan("mixed")
    to_coreml.save_package(mlmodel, stage, sizes, METADATA, batch, "fp16", plan, path, layers)
    assert _stored_as(path, [(w.astype(np.float16), c) for w, c in layers]) == [c for _, c in layers]
    uniform = tmp_path / "palettize8.mlpackage"
    to_coreml.save_package(mlmodel, stage, sizes, METADATA, batch, "fp16", cc.CompressionPlan("palettize8"), uniform)

    def stored_weights(package) -> int:  # compressed weights, and float constants large enough to compress
        ops = load_mil(package).functions["main"].operations
        values = [op.outputs[0].val for op in ops if op.op_type == "const"]
        plain = [v for v in values if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size >= cc.MIN_ELEMENTS]
        return len(plain) + sum(op.op_type.startswith("constexpr_") for op in ops)

    assert stored_weights(path) == stored_weights(uniform)  # the same weights; no table folded into one more
    with pytest.raises(cc.CompressionError, match="not among the converted program's constants"):
        cc.compress_model(mlmodel, "mixed", layers=[(np.ones((64, 64), np.float32), "int8")])
    with pytest.raises(cc.CompressionError, match="needs the fitted layers"):
        cc.compress_model(mlmodel, "mixed")
