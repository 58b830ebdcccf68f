"""Mixed precision per layer: each layer's weights stored as a 4-, 6- or 8-bit table, int8 per channel or
float16 (coreml_compression.MIXED_CHOICES), chosen by how much the stage's output depends on the layer, for the
fewest bytes that keep the stage's cosine against float32 at a target.

The layers of a stage differ by ~100× in what their rounding costs per weight (the image encoder's stem and
first stages carry much, its last stage's large convolutions little). Apple's mixed-bit palettization
recipes for Stable Diffusion rank layers by the output PSNR each loses alone; this module does that per
stage, through the toolkit's fitted rounding, and widens the menu: a small layer that even 8-bit tables
leave too noisy stays float16 for a few kilobytes, and a layer whose channels differ in scale takes int8
with a scale per channel, which one table per tensor cannot match.

1. One float run of the calibration inputs gives every layer's input Hessian H (fitted_rounding).
2. For each layer and choice, fitted rounding on H gives the layer's own output error e (float16: 0).
3. One probe run per layer, with only that layer rounded to PROBE_PRESET, gives the stage's loss (1 − cosine
   summed over its outputs) on probe inputs outside the calibration; loss / e(PROBE_PRESET) is the layer's
   gain, and gain · e predicts what each choice costs. Rounding noise of different layers adds up in
   1 − cosine: at 1024², the image encoder's allocation predicted 0.99950 and measured 0.99950 on verify's
   images (float32 torch; 0.99952 through the ML Program interpreter).
4. Each layer takes the choice minimizing predicted cost + λ · bytes; λ is bisected for the fewest bytes
   whose summed prediction stays within the budget (1 − target cosine) · MARGIN.

The stage is then fitted layer after layer (fit_weights with the chosen presets), and the Core ML compression
stores each layer as chosen (coreml_compression.compress_model finds the layers' constants by value).

What the probes do not see: a discrete choice downstream of a near-tie. At 256² one click's candidate masks
score nearly alike, and the mask decoder's choice swaps them on the prompted frame (tracking IoU 0.21 there)
while every output's cosine stays ≥ 0.999 (README, compression section).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reference_model.backbone import fold_constants_

from .coreml_compression import MIXED_CHOICES, stored_bytes
from .fitted_rounding import (
    ReplacedWeights,
    eligible,
    grid_for,
    input_free_layers,
    input_hessian,
    output_error,
    round_with_compensation,
    tensor_names,
)
from .metrics import cosine

PROBE_PRESET = "palettize6"
TARGET_COSINE = 0.999  # each stage's cosine against float32, as verify measures it on other inputs
MARGIN = 0.5  # the share of (1 − target) the predicted cost may take: predictions ran within ±10 % of the
# measured 1 − cosine on other inputs; the rest covers float16 arithmetic and the layer-by-layer fitting


@dataclass(frozen=True)
class LayerCost:
    """One layer's size and its predicted 1 − cosine of the stage's output under each of MIXED_CHOICES."""

    elements: int
    channels: int  # output channels (int8 stores a scale per channel)
    cost: dict[str, float]

    def bytes_at(self, preset: str) -> float:
        return stored_bytes(preset, self.elements, self.channels)


@torch.no_grad()
def layer_costs(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    probes: list[tuple[torch.Tensor, ...]],
    min_elements: int,
    skip_ops: tuple[str, ...] = (),
) -> dict[str, LayerCost]:
    """Each compressed layer's predicted cost under each choice (steps 1–3 of the module docstring): Hessians
    from `inputs` (the calibration batch), gains from the mean loss over `probes` (examples outside it,
    `fitted_rounding.probe_inputs`: one run per example and layer)."""
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
        errors, probe_weight = {"none": 0.0}, None
        for preset in MIXED_CHOICES:
            if preset == "none":
                continue
            rounded = round_with_compensation(rows, hessians[key], grid_for(preset, layer))
            errors[preset] = output_error(rounded - rows, hessians[key])
            if preset == PROBE_PRESET:
                probe_weight = rounded.reshape(layer.weight.shape).to(layer.weight.dtype)
        with ReplacedWeights(names, {key: probe_weight}):
            lost = np.mean([_lost(_outputs(module, p), want) for p, want in zip(probes, reference)])
        gain = lost / errors[PROBE_PRESET]
        costs[key] = LayerCost(
            layer.weight.numel(), layer.weight.shape[0], {p: gain * errors[p] for p in MIXED_CHOICES}
        )
    return costs


def allocate(costs: dict[str, LayerCost], budget: float) -> dict[str, str]:
    """A choice per layer: the fewest bytes whose summed predicted cost is at most `budget` (step 4). Float16
    costs nothing, so every budget is reachable."""

    def choice(lam: float) -> dict[str, str]:
        return {k: min(MIXED_CHOICES, key=lambda p: c.cost[p] + lam * c.bytes_at(p)) for k, c in costs.items()}

    def cost(chosen: dict[str, str]) -> float:
        return sum(costs[k].cost[p] for k, p in chosen.items())

    low, high = 1e-15, 1.0  # λ per byte: at `low` every layer keeps float16, at `high` takes 4-bit tables
    for _ in range(100):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if cost(choice(middle)) <= budget else (low, middle)
    return choice(low)


def choose_layer_presets(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    probes: list[tuple[torch.Tensor, ...]],
    min_elements: int,
    skip_ops: tuple[str, ...] = (),
    target: float = TARGET_COSINE,
) -> tuple[dict[str, str], dict]:
    """(a choice of MIXED_CHOICES per layer, a record for the manifest) for a stage to keep cosine ≥ `target`
    (layer_costs, allocate)."""
    costs = layer_costs(module, inputs, probes, min_elements, skip_ops)
    chosen = allocate(costs, (1 - target) * MARGIN)
    weights = sum(c.elements for c in costs.values())
    stored = sum(costs[k].bytes_at(p) for k, p in chosen.items())
    record = {
        "target_cosine": target,
        "predicted_lowest_cosine": float(1 - sum(costs[k].cost[p] for k, p in chosen.items())),
        "layers_by_preset": {p: sum(v == p for v in chosen.values()) for p in MIXED_CHOICES},
        "mean_bits": 8 * stored / weights if weights else None,  # stored bits per weight, tables and scales too
    }
    return chosen, record


def _outputs(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    out = module(*inputs)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _lost(got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...]) -> float:
    """Σ over the stage's outputs of 1 − cosine: additive over layers like each output's own, and at least
    the lowest output's (different layers move different outputs, so their maxima would not add up)."""
    return sum(1 - cosine(g.numpy(), w.numpy()) for g, w in zip(got, want))
