"""The `mixed` compression preset: bit widths chosen per layer from measured sensitivity (mixed_bits), fitted,
stored by the Core ML compression at each layer's own table size, and judged against the cosine target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgetam_export import coreml_compression as cc
from edgetam_export import fitted_rounding as fr
from edgetam_export import mixed_bits as mb
from edgetam_export import to_coreml
from edgetam_export.examples import example_inputs
from edgetam_export.export import coreml_stage_module, size_bytes
from edgetam_export.metrics import cosine
from reference_model.attention import float16_safe
from runtime.contract import STAGES, model_sizes
from tests.test_fitted_rounding import _correlated_images, _Layers

METADATA = {"author": "tests", "license": "Apache-2.0", "version": "0.0.test", "weights": "{}"}


def _costs() -> dict[str, mb.LayerCost]:
    """A small sensitive layer and a large insensitive one; each bit less costs ~16× more."""
    return {
        "sensitive": mb.LayerCost(4096, {4: 4e-3, 6: 2.5e-4, 8: 1.6e-5}),
        "insensitive": mb.LayerCost(262144, {4: 2e-4, 6: 1.3e-5, 8: 8e-7}),
    }


def test_allocation_spends_bits_where_they_buy_the_most():
    costs = _costs()
    assert mb.allocate(costs, 1.0) == {"sensitive": 4, "insensitive": 4}
    assert mb.allocate(costs, 0.0) == {"sensitive": 8, "insensitive": 8}  # unreachable: the most bits
    bits = mb.allocate(costs, 5e-4)
    assert bits == {"sensitive": 6, "insensitive": 4}  # 4.5e-4: the large layer at 4 bits, the small at 6
    spent = [sum(costs[k].bytes_at(b) for k, b in mb.allocate(costs, budget).items()) for budget in (1e-4, 5e-4, 5e-3)]
    assert spent == sorted(spent, reverse=True) and len(set(spent)) == 3  # a larger budget, fewer bytes


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
    costs = mb.layer_costs(module, inputs, [inputs], 2048)
    assert set(costs) == {"conv.weight", "call 2", "linear.weight"}
    for c in costs.values():
        assert c.cost[4] > c.cost[6] > c.cost[8] > 0
    bits = {"conv.weight": 4, "call 2": 6, "linear.weight": 8}
    predicted = sum(costs[k].cost[b] for k, b in bits.items())
    fitted = fr.fit_weights(module, inputs, "mixed", 2048, bits=bits)
    assert {k: torch.unique(w).numel() <= 1 << bits[k] for k, w in fitted.fitted.items()} == dict.fromkeys(bits, True)
    held_out = _correlated_images(16, seed=2)
    with torch.no_grad():
        measured = 1 - cosine(fitted(held_out).numpy(), module(held_out).numpy())
    print(f"predicted 1 − cosine {predicted:.2e}, measured {measured:.2e}")
    assert 0.5 < measured / predicted < 2
    with pytest.raises(ValueError, match="mixed preset"):
        fr.fit_weights(module, inputs, "palettize6", 2048, bits=bits)


def test_mixed_memory_encoder_meets_its_target_in_fewer_bytes(tiny_stages, tmp_path):
    """The memory encoder at 256² under `mixed`: the package stores each chosen layer at its table size (every
    fitted weight exactly), records the choice, and through the interpreter keeps cosine ≥ the 0.999 target
    on inputs the choice never saw, smaller than 8-bit tables everywhere."""
    from runtime.mlprogram import Program
    from runtime.mlprogram.ops.compression import constexpr_lut_to_dense
    from runtime.mlprogram.program import load_mil

    name, stage = "memory_encoder", STAGES["memory_encoder"]
    sizes = {**model_sizes(tiny_stages.cfg.to_dict()), "K": 2, "N": 7, "P": 4}
    plan = cc.CompressionPlan("mixed")
    fitted = coreml_stage_module(tiny_stages, name, sizes, plan, [])
    chosen = fitted.report["mixed_bits"]
    assert chosen["target_cosine"] == mb.TARGET_COSINE and chosen["predicted_lowest_cosine"] >= 1 - 1e-3 * mb.MARGIN
    assert sum(chosen["layers_by_bits"].values()) == fitted.report["layers"] and 4 <= chosen["mean_bits"] < 8
    with float16_safe(fitted):
        mlmodel, batch = to_coreml.convert_stage(fitted, stage, sizes, 2, "fp16")
    path = tmp_path / "mixed.mlpackage"
    to_coreml.save_package(mlmodel, stage, sizes, METADATA, batch, "fp16", plan, path)
    assert to_coreml.check_package(path, stage, sizes) == []
    assert cc.package_compression(path)["nbits"] == list(cc.MIXED_BITS)
    weights = [w.half().numpy() for w in fitted.fitted.values()]
    stored: dict[int, int] = {}
    for op in load_mil(path).functions["main"].operations:
        if op.op_type == "constexpr_lut_to_dense":
            lut = op.inputs["lut"].val  # iOS 17: one table per tensor, indices packed at log2(its size) bits
            dense = constexpr_lut_to_dense(op.inputs["indices"].val, lut, tuple(op.inputs["shape"].val))
            if any(w.shape == dense.shape and np.array_equal(dense, w) for w in weights):
                bits = int(np.log2(lut.size))
                stored[bits] = stored.get(bits, 0) + 1
    assert stored == {int(b): n for b, n in chosen["layers_by_bits"].items() if n}  # each at its own size
    worst = 1.0
    for seed in (100, 101):
        inputs = example_inputs(name, {**sizes, "B": 1}, seed=seed)
        with torch.no_grad():
            want = tiny_stages.memory_encoder(*[inputs[n] for n in stage.input_names]).numpy()
        got = Program(path, name).run({k: v.numpy() for k, v in inputs.items()})["mem_feats"]
        worst = min(worst, cosine(got, want))
    print(f"memory_encoder mixed: {chosen}, {size_bytes(path) / 1e6:.2f} MB, cosine {worst:.5f}")
    assert worst >= mb.TARGET_COSINE
