"""Compressed weights fitted to calibration inputs: rounding that keeps each layer's outputs, not its weights.

Plain compression rounds every weight to its nearest grid value (a palettization table's entry, or a multiple
of an int8 scale). Fitted rounding (GPTQ: Frantar et al., 2023) rounds a layer's weight one input column at a
time and spreads each column's rounding error over the columns still to round, weighted by how the layer's
inputs correlate (the Hessian H = XᵀX of the squared output error, X the layer's inputs on calibration data),
so that the layer's outputs move least. Layers are fitted in the order the stage runs them, each on the inputs
that the already-rounded layers before it produce. The grid is the one plain compression uses (a k-means
table per tensor, or per group of output channels at iOS 18, or an int8 scale per output channel): the result
is a weight tensor whose values all lie on that grid, which the Core ML compression then stores exactly
(`coreml_compression.lut_of`).

Measured on the synthetic weights (1024², through the ML Program interpreter): see the README's table.

How it reaches the package: `fit_weights` returns the stage wrapped in `FittedWeights`, which runs the stage
with the fitted tensors in place of the weights of its convolutions and linear layers (intercepted with a torch
function mode, so weights computed in the forward pass, such as folded batch norms or composed 1×1 convs, are
replaced too). Traced, the fitted tensors are constants of the graph.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from reference_model.backbone import fold_constants_

DAMPING = 0.01  # of H's mean diagonal, added to its diagonal: calibration data never spans every direction
MAX_ROWS = 65536  # calibration rows per layer (positions × images); neighbouring positions repeat each other
LAYERS = {F.conv2d: "conv", F.linear: "linear"}  # the torch functions fitted, by their Core ML op type


@dataclass(frozen=True)
class Layer:
    """One call of a convolution or linear layer: its kind, weight and (for a convolution) geometry."""

    kind: str
    weight: torch.Tensor
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1

    @classmethod
    def of(cls, func, args: tuple, kwargs: dict) -> Layer:
        if LAYERS[func] == "linear":
            return cls("linear", args[1])
        geometry = dict(zip(("stride", "padding", "dilation", "groups"), args[3:]))
        geometry.update({k: v for k, v in kwargs.items() if k in ("stride", "padding", "dilation", "groups")})
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        return cls(
            "conv",
            args[1],
            pair(geometry.get("stride", 1)),
            pair(geometry.get("padding", 0)),
            pair(geometry.get("dilation", 1)),
            int(geometry.get("groups", 1)),
        )

    def columns(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's inputs as its weight's columns see them: [groups, rows, columns per group]."""
        if self.kind == "linear":
            return x.reshape(1, -1, x.shape[-1])
        if isinstance(self.padding, str):
            raise ValueError(f"fitted rounding needs numeric conv padding, not {self.padding!r}")
        patches = F.unfold(x, self.weight.shape[2:], self.dilation, self.padding, self.stride)  # [B, C·k·k, L]
        b, ck, positions = patches.shape
        g = self.groups
        return patches.reshape(b, g, ck // g, positions).permute(1, 0, 3, 2).reshape(g, b * positions, ck // g)

    def rows(self) -> torch.Tensor:
        """The weight as [groups, output channels per group, columns per group]."""
        return self.weight.reshape(self.groups, self.weight.shape[0] // self.groups, -1)


class Grid:
    """The values a weight may take: `nearest` maps values [groups, rows(, columns)] to grid values. `pinned`
    (rows' shape, boolean) marks weights that must keep their value: compensation leaves them alone."""

    def __init__(self, nearest: Callable[[torch.Tensor], torch.Tensor], pinned: torch.Tensor | None = None) -> None:
        self.nearest = nearest
        self.pinned = pinned


def palette_grid(weight: torch.Tensor, nbits: int, group_size: int | None = None) -> Grid:
    """k-means tables of 2^nbits values, as plain palettization fits them: one for the whole tensor, or with
    `group_size` one per group of that many output channels (iOS 18's per_grouped_channel)."""
    from .coreml_compression import kmeans_table

    flat = weight.detach().double().reshape(weight.shape[0], -1)
    size = group_size or flat.shape[0]
    tables = [torch.from_numpy(kmeans_table(flat[i : i + size].numpy(), nbits)[0]) for i in range(0, len(flat), size)]
    per_channel = torch.stack(tables).repeat_interleave(size, dim=0)[: len(flat)]  # [output channels, 2^nbits]
    cuts = (per_channel[:, 1:] + per_channel[:, :-1]) / 2

    def nearest(v: torch.Tensor) -> torch.Tensor:  # v [groups, rows(, columns)]: rows run over output channels
        by_channel = v.reshape(len(flat), -1).contiguous()
        return torch.gather(per_channel, 1, torch.searchsorted(cuts, by_channel)).reshape(v.shape)

    return Grid(nearest)


def int8_grid(rows: torch.Tensor) -> Grid:
    """Symmetric int8 with one scale per output channel (max |w| / 127), as linear quantization sets it.

    Each row's largest weight is pinned at ±127 steps: Core ML's compression derives the scale again from the
    fitted row's largest value, and only a row that still reaches 127 steps keeps its scale and integers."""
    scale = rows.abs().amax(dim=2).clamp_min(1e-30) / 127  # [groups, rows]
    pinned = torch.nn.functional.one_hot(rows.abs().argmax(dim=2), rows.shape[2]).bool()

    def nearest(v: torch.Tensor) -> torch.Tensor:
        s = scale.reshape(scale.shape + (1,) * (v.dim() - 2))
        return (v / s).round().clamp(-127, 127) * s

    return Grid(nearest, pinned)


def grid_for(preset: str, layer: Layer, group_size: int | None = None) -> Grid:
    """The grid `preset` puts `layer`'s weight on (palettization tables per `group_size` output channels, or
    per tensor)."""
    if preset == "int8":
        return int8_grid(layer.rows().double())
    return palette_grid(layer.weight, int(preset.removeprefix("palettize")), group_size)


def round_with_compensation(rows: torch.Tensor, hessian: torch.Tensor, grid: Grid) -> torch.Tensor:
    """GPTQ rounding of rows [G, R, D] (float64) with H [G, D, D]: every value ends on the grid.

    Columns are rounded in order of decreasing H diagonal (the inputs with most energy first, whose errors the
    others can then absorb); each column's error, scaled by the inverse Hessian's Cholesky factor, is
    subtracted from the columns not yet rounded."""
    d = rows.shape[2]
    diag = torch.diagonal(hessian, dim1=1, dim2=2)
    dead = diag <= 0  # inputs that never vary: their weights cannot matter, round them plainly
    h = hessian.clone()
    h[dead.unsqueeze(2).expand_as(h) & dead.unsqueeze(1).expand_as(h)] = 0
    h += DAMPING * diag.clamp_min(0).mean(-1).clamp_min(1e-12)[:, None, None] * torch.eye(d, dtype=h.dtype)
    h[torch.diag_embed(dead)] = 1.0
    order = torch.argsort(torch.diagonal(h, dim1=1, dim2=2), dim=-1, descending=True)
    work = torch.gather(rows, 2, order[:, None, :].expand_as(rows))  # a copy, rounded in place
    pinned = None if grid.pinned is None else torch.gather(grid.pinned, 2, order[:, None, :].expand_as(work))
    kept = None if pinned is None else work[pinned]
    h = torch.gather(torch.gather(h, 1, order[:, :, None].expand_as(h)), 2, order[:, None, :].expand_as(h))
    factor = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    rounded = torch.empty_like(work)
    for j in range(d):
        column = work[:, :, j]
        rounded[:, :, j] = grid.nearest(column)
        error = (column - rounded[:, :, j]) / factor[:, j, j][:, None]
        work[:, :, j + 1 :] -= error[:, :, None] * factor[:, None, j, j + 1 :]
        if pinned is not None:
            work[pinned] = kept
    return torch.gather(rounded, 2, torch.argsort(order, dim=-1)[:, None, :].expand_as(rounded))


class ReplacedWeights(TorchFunctionMode):
    """Runs convolutions and linear layers with replaced weights; `fit`, when given, makes the replacement of
    a layer met for the first time from its input."""

    def __init__(self, names: dict[int, str], fitted: dict[str, torch.Tensor], fit=None) -> None:
        super().__init__()
        self.names, self.fitted, self.fit, self.calls = names, fitted, fit, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in LAYERS:
            # A module's own tensor is named (shared wherever it is used); a weight computed in the forward
            # pass (a folded or composed one) is known by the call's position in the stage.
            key = self.names.get(id(args[1]), f"call {self.calls}")
            self.calls += 1
            if self.fit is not None and key not in self.fitted:
                replacement = self.fit(key, Layer.of(func, args, kwargs), args[0])
                if replacement is not None:
                    self.fitted[key] = replacement
            if key in self.fitted:
                args = (args[0], self.fitted[key].to(args[1].dtype), *args[2:])
        return func(*args, **kwargs)


class FittedWeights(nn.Module):
    """A stage that runs with fitted weights in place of its layers' own (same inputs and outputs)."""

    def __init__(
        self, module: nn.Module, fitted: dict[str, torch.Tensor], report: dict, choices: dict[str, str]
    ) -> None:
        super().__init__()
        self.module = module
        self.fitted = fitted
        self.report = report  # what was fitted, for the manifest
        self.choices = choices  # each fitted layer's preset (under `mixed`, its own)
        self.names = tensor_names(module)  # the module's tensors are the same objects at every call

    def layer_choices(self) -> list[tuple[np.ndarray, str]]:
        """Each layer's weight values as the stage holds them, with the preset it is stored by (what the
        Core ML compression of `mixed` applies: coreml_compression.compress_model)."""
        return [(self.fitted[key].detach().float().numpy(), choice) for key, choice in self.choices.items()]

    def forward(self, *inputs: torch.Tensor):
        with ReplacedWeights(self.names, self.fitted):
            return self.module(*inputs)


def tensor_names(module: nn.Module) -> dict[int, str]:
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    return {id(t): name for name, t in tensors.items()}


def input_hessian(layer: Layer, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """H = XᵀX [groups, D, D] over at most MAX_ROWS rows of the layer's input columns, drawn at random. A
    convolution's columns are unfolded one example at a time (all at once, a depthwise 7×7 over 256 channels
    at 64² for 8 objects would be 1.6 GB)."""
    items = [x] if layer.kind == "linear" else list(x.split(1))
    budget = max(1, MAX_ROWS // len(items))
    hessian = None
    for item in items:
        columns = layer.columns(item)
        if columns.shape[1] > budget:
            columns = columns[:, torch.randperm(columns.shape[1], generator=generator)[:budget]]
        columns = columns.double()
        part = columns.transpose(1, 2) @ columns
        hessian = part if hessian is None else hessian + part
    return hessian


def eligible(key: str, layer: Layer, min_elements: int, skip_ops: tuple[str, ...], folded: set[str]) -> bool:
    """Whether a layer's weight is compressed, so fitted: large enough, of an op type not skipped, and not
    folded into a constant by the converter (`input_free_layers`)."""
    return layer.weight.numel() >= min_elements and layer.kind not in skip_ops and key not in folded


@torch.no_grad()
def fit_weights(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    preset: str,
    min_elements: int,
    skip_ops: tuple[str, ...] = (),
    group_size: int | None = None,
    choices: dict[str, str] | None = None,
) -> FittedWeights:
    """`module` (a stage; not modified) with the weights of its convolutions and linear layers of at least
    `min_elements` elements rounded to `preset`'s grid (int8 or paletteN) by fitted rounding, calibrated on
    one run of `inputs` (batch the calibration examples along the inputs' first axis). Layers whose Core ML
    op type (conv, linear) is in `skip_ops` keep their weights, as compression leaves them. `group_size`: one
    palettization table per that many output channels (iOS 18), else one per tensor. Preset "mixed": each
    layer takes the preset `choices[layer]` (mixed_precision.choose_layer_presets; one table per tensor; a
    layer left `none` keeps its weight)."""
    if preset == "none":
        raise ValueError("fitted rounding needs a compression preset (int8 or palettize*), not none")
    if (preset == "mixed") != (choices is not None):
        raise ValueError("presets per layer go with the mixed preset, and only with it")
    module = fold_constants_(copy.deepcopy(module).eval())  # the weights the graph will hold, folded once
    generator = torch.Generator().manual_seed(0)
    report: dict = {"layers": 0, "weights": 0, "output_error_ratio": []}
    folded = input_free_layers(module, inputs)

    chosen: dict[str, str] = {}

    def fit(key: str, layer: Layer, x: torch.Tensor) -> torch.Tensor | None:
        if not eligible(key, layer, min_elements, skip_ops, folded):
            return None
        chosen[key] = choices[key] if choices is not None else preset
        report["layers"] += 1
        report["weights"] += layer.weight.numel()
        if chosen[key] == "none":
            return layer.weight.detach().clone()  # kept, and known by its values to the compression
        rows = layer.rows().double()
        hessian = input_hessian(layer, x, generator)
        grid = grid_for(chosen[key], layer, None if choices is not None else group_size)
        rounded = round_with_compensation(rows, hessian, grid)
        ratio = output_error(rounded - rows, hessian) / output_error(grid.nearest(rows) - rows, hessian)
        report["output_error_ratio"].append(ratio)
        return rounded.reshape(layer.weight.shape).to(layer.weight.dtype)

    fitted: dict[str, torch.Tensor] = {}
    with ReplacedWeights(tensor_names(module), fitted, fit):
        module(*inputs)
    ratios = np.asarray(report.pop("output_error_ratio") or [1.0])
    report["output_error_vs_nearest"] = {"median": float(np.median(ratios)), "max": float(ratios.max())}
    return FittedWeights(module, fitted, report, chosen).eval()


def input_free_layers(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> set[str]:
    """The layers whose input is made from the stage's own tensors alone (the perceiver's queries, from its
    latents): the converter folds such a layer and its input into one constant, so the weight never reaches
    the package, and fitting it would round the folded constant twice. Found by which layer inputs carry a
    gradient from the stage's inputs (one example of each; `module` is a private copy)."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    probe = tuple(t[:1].detach().clone().requires_grad_(t.is_floating_point()) for t in inputs)
    found: set[str] = set()

    def note(key: str, layer: Layer, x: torch.Tensor) -> None:
        if not x.requires_grad:
            found.add(key)

    with torch.enable_grad(), ReplacedWeights(tensor_names(module), {}, note):
        module(*probe)
    return found


def output_error(delta: torch.Tensor, hessian: torch.Tensor) -> float:
    """Σ over calibration rows of the squared output change that a weight change `delta` [G, R, D] makes."""
    return float(torch.einsum("grd,gde,gre->", delta, hessian, delta).clamp_min(1e-300))


CALIBRATION_BATCH = 8  # objects per calibration run of the stages after the image encoder
CALIBRATION_SEED = 1000  # example inputs unlike verify's (seeds 100, 101)
RANDOM_IMAGES = 2  # the image encoder: noise images beside the frames (the inputs verify judges with)


def calibration_inputs(stage: str, sizes: dict[str, int], frames: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
    """One batched run of `stage`'s inputs to fit on: for the image encoder, `frames` (preprocessed [1, 3, S, S]
    each) and RANDOM_IMAGES noise images; for the other stages, CALIBRATION_BATCH objects of example inputs."""
    if stage == "image_encoder":
        noise = [image for (image,) in _examples(stage, sizes, CALIBRATION_SEED)]
        return (torch.cat([torch.from_numpy(np.asarray(f, dtype=np.float32)) for f in frames] + noise),)
    return _examples(stage, sizes, CALIBRATION_SEED)[0]


def probe_inputs(stage: str, sizes: dict[str, int]) -> list[tuple[torch.Tensor, ...]]:
    """Examples the fit never sees, for runs repeated once per layer (mixed_precision): for the image encoder
    RANDOM_IMAGES more noise images, each alone; for the other stages one run of CALIBRATION_BATCH other
    objects (they are cheap; the masks' errors vary from object to object). Fitted rounding follows its
    calibration rows closely where they are few (the mask decoder's token layers), so losses measured on
    them would flatter it."""
    return _examples(stage, sizes, CALIBRATION_SEED + RANDOM_IMAGES)  # seeds past the calibration's


def _examples(stage: str, sizes: dict[str, int], seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Example inputs from `seed` on, in the stage's input order: RANDOM_IMAGES single images for the image
    encoder (seeds seed, seed + 1, …), one batch of CALIBRATION_BATCH objects for the other stages."""
    from runtime.contract import STAGES

    from .examples import example_inputs

    names = STAGES[stage].input_names
    if stage == "image_encoder":
        runs = [example_inputs(stage, {**sizes, "B": 1}, seed=seed + i) for i in range(RANDOM_IMAGES)]
    else:
        runs = [example_inputs(stage, {**sizes, "B": CALIBRATION_BATCH}, seed=seed)]
    return [tuple(run[name] for name in names) for run in runs]
