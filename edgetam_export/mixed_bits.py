"""Mixed bit widths: each layer's palettization table sized (4, 6 or 8 bits) by how much the stage's output
depends on it, for the fewest bytes that keep the stage's cosine against float32 at a target.

The layers of a stage differ by ~100× in what their rounding costs per weight (the image encoder's stem and
first stages carry much, its last stage's large convolutions little). Apple's mixed-bit palettization
recipes for Stable Diffusion rank layers by the output PSNR each loses alone; this module does that per
stage, through the toolkit's fitted rounding:

1. One float run of the calibration inputs gives every layer's input Hessian H (fitted_rounding).
2. For each layer and bit width b, fitted rounding on H gives the layer's own output error e(b).
3. One probe run per layer, with only that layer rounded at PROBE_BITS, gives the stage's loss (1 − cosine
   summed over its outputs) on probe inputs outside the calibration; loss / e(PROBE_BITS) is the layer's
   gain, and gain · e(b) predicts what b bits cost. Rounding noise of different layers adds up in
   1 − cosine: at 512², uniform 6 bits, 0.0129 predicted and 0.0123 measured on other images.
4. Each layer takes the width minimizing predicted cost + λ · bytes; λ is bisected for the fewest bytes
   whose summed prediction stays within the budget (1 − target cosine) · MARGIN.

The stage is then fitted layer after layer (fit_weights with the chosen widths), and the Core ML compression
stores each table at its own size (coreml_compression.table_bits reads it off the distinct values).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reference_model.backbone import fold_constants_

from .coreml_compression import MIXED_BITS as BIT_WIDTHS
from .fitted_rounding import (
    ReplacedWeights,
    eligible,
    input_free_layers,
    input_hessian,
    output_error,
    palette_grid,
    round_with_compensation,
    tensor_names,
)
from .metrics import cosine

PROBE_BITS = 6
TARGET_COSINE = 0.999  # each stage's cosine against float32, as verify measures it on other inputs
MARGIN = 0.5  # the share of (1 − target) the predicted cost may take: predictions ran within ±10 % of the
# measured 1 − cosine on other inputs; the rest covers float16 arithmetic and the layer-by-layer fitting


@dataclass(frozen=True)
class LayerCost:
    """One layer's weight count and its predicted 1 − cosine of the stage's output at each bit width."""

    elements: int
    cost: dict[int, float]

    def bytes_at(self, nbits: int) -> float:
        return self.elements * nbits / 8 + (2 << nbits)  # indices, and a float16 table of 2^nbits entries


@torch.no_grad()
def layer_costs(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    probes: list[tuple[torch.Tensor, ...]],
    min_elements: int,
    skip_ops: tuple[str, ...] = (),
) -> dict[str, LayerCost]:
    """Each compressed layer's predicted cost at each of BIT_WIDTHS (steps 1–3 of the module docstring):
    Hessians from `inputs` (the calibration batch), gains from the mean loss over `probes` (examples outside
    it, `fitted_rounding.probe_inputs`: one run per example and layer)."""
    module = fold_constants_(copy.deepcopy(module).eval())
    names = tensor_names(module)
    folded = input_free_layers(module, inputs)
    generator = torch.Generator().manual_seed(0)
    hessians: dict[str, torch.Tensor] = {}
    layers: dict = {}

    def collect(key, layer, x) -> None:
        if key not in layers and eligible(key, layer, min_elements, skip_ops, folded):
            layers[key] = layer
            hessians[key] = input_hessian(layer, x, generator)

    with ReplacedWeights(names, {}, collect):
        module(*inputs)
    reference = [_outputs(module, p) for p in probes]
    costs = {}
    for key, layer in layers.items():
        rows = layer.rows().double()
        errors, probe_weight = {}, None
        for nbits in BIT_WIDTHS:
            rounded = round_with_compensation(rows, hessians[key], palette_grid(layer.weight, nbits))
            errors[nbits] = output_error(rounded - rows, hessians[key])
            if nbits == PROBE_BITS:
                probe_weight = rounded.reshape(layer.weight.shape).to(layer.weight.dtype)
        with ReplacedWeights(names, {key: probe_weight}):
            lost = np.mean([_lost(_outputs(module, p), want) for p, want in zip(probes, reference)])
        gain = lost / errors[PROBE_BITS]
        costs[key] = LayerCost(layer.weight.numel(), {b: gain * e for b, e in errors.items()})
    return costs


def allocate(costs: dict[str, LayerCost], budget: float) -> dict[str, int]:
    """Bit widths per layer: the fewest bytes whose summed predicted cost is at most `budget` (step 4). A
    budget below even 8 bits everywhere gives 8 bits everywhere."""

    def choice(lam: float) -> dict[str, int]:
        return {k: min(BIT_WIDTHS, key=lambda b: c.cost[b] + lam * c.bytes_at(b)) for k, c in costs.items()}

    def cost(bits: dict[str, int]) -> float:
        return sum(costs[k].cost[b] for k, b in bits.items())

    low, high = 1e-15, 1.0  # λ per byte: at `low` every layer takes 8 bits, at `high` 4
    for _ in range(100):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if cost(choice(middle)) <= budget else (low, middle)
    return choice(low)


def choose_bits(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    probes: list[tuple[torch.Tensor, ...]],
    min_elements: int,
    skip_ops: tuple[str, ...] = (),
    target: float = TARGET_COSINE,
) -> tuple[dict[str, int], dict]:
    """(bits per layer, a record for the manifest) for a stage to keep cosine ≥ `target` (layer_costs)."""
    costs = layer_costs(module, inputs, probes, min_elements, skip_ops)
    budget = (1 - target) * MARGIN
    bits = allocate(costs, budget)
    weights = max(1, sum(c.elements for c in costs.values()))
    record = {
        "target_cosine": target,
        "predicted_lowest_cosine": float(1 - sum(costs[k].cost[b] for k, b in bits.items())),
        "layers_by_bits": {str(b): sum(v == b for v in bits.values()) for b in BIT_WIDTHS},
        "mean_bits": sum(costs[k].elements * b for k, b in bits.items()) / weights,
    }
    return bits, record


def _outputs(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    out = module(*inputs)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _lost(got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...]) -> float:
    """Σ over the stage's outputs of 1 − cosine: additive over layers like each output's own, and at least
    the lowest output's (different layers move different outputs, so their maxima would not add up)."""
    return sum(1 - cosine(g.numpy(), w.numpy()) for g, w in zip(got, want))
