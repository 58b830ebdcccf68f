"""Weight compression of Core ML packages: presets on `coremltools.optimize.coreml`, chosen per stage.

Presets (what a weight tensor becomes; activations and arithmetic keep the export's precision):
- `none`: float16 (or float32) weights, as converted.
- `int8`: linear 8-bit weights, symmetric, one scale per output channel (`constexpr_affine_dequantize`).
- `palettize8`, `palettize6`, `palettize4`: every weight tensor an index into a table of 2^n values
  (`constexpr_lut_to_dense`), the table fitted by 1-D k-means.
- `mixed`: each layer one of MIXED_CHOICES (a table of 4, 6 or 8 bits per tensor, int8 per channel, or
  float16), chosen from measured sensitivity for the fewest bytes that keep each stage's cosine ≥ 0.999
  (mixed_precision); needs fitted rounding. The chosen layers' constants are found in the converted program by
  their values (`_constants_by_value`), not by names across the torch and MIL graphs. Weights outside the
  chosen layers (constants folded by the converter) get 8-bit k-means tables.

Choices, per deployment target (coreml_targets):
- iOS 17: one table per tensor (the iOS 17 palettization op takes one).
- iOS 18 (`--coreml-target iOS18`): one table per group of GROUP_SIZE output channels
  (`per_grouped_channel`), meant for channels whose scale differs (batch norms folded into convolutions).
  Measured on synthetic weights it does not pay: at 256² the 6-bit image encoder gave cosine 0.939 with
  grouped tables against 0.953 with one table per tensor, and the packages are 8 % larger (a table per
  group); the option stays for trained weights, whose channel scales may differ more.
- The k-means is this module's own (Lloyd's iterations on the sorted values), passed to coremltools as a
  custom table function: coremltools' own k-means mode needs scikit-learn, which the product does not
  depend on. On a tensor's sorted values one iteration is a search per cluster boundary, so a 2048×256
  weight takes milliseconds. Where Lloyd starts decides where it stops (see `kmeans_table`); the better
  starts raised the 8-bit image encoder from cosine 0.978 to 0.991 (256²).
- Tensors of fewer than MIN_ELEMENTS elements (biases, norms, small convs) stay uncompressed: they weigh
  little and carry much.
- Rounding (`rounding`, ROUNDINGS): by default the stage's convolution and linear weights are first fitted
  to calibration inputs on the preset's own grid (`fitted_rounding`: each layer's outputs kept, the rounding
  error of one input column absorbed by the others), and the table function stores the fitted values exactly
  (`lut_of`); int8's per-channel scales are re-derived from the fitted weights and land on the same
  integers. "nearest" rounds every weight to its nearest grid value, without data (the export is faster).

Per stage: a plan gives every stage a preset (a default plus overrides, `none` to leave a stage out) and a
set of MIL op types whose weights stay uncompressed (e.g. `conv`). The plan is recorded in the manifest
and in each package's `edgetam.compression` metadata.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .coreml_targets import DEFAULT_TARGET, deployment_target

PRESETS = ("none", "int8", "palettize8", "palettize6", "palettize4", "mixed")
# What a layer's weights may become under `mixed` (Core ML's 1- and 2-bit tables cost too much here)
MIXED_CHOICES = ("palettize4", "palettize6", "palettize8", "int8", "none")
MIXED_BITS = (4, 6, 8)  # their table sizes
# How weights are put on a preset's grid: fitted to calibration inputs (fitted_rounding: each layer's outputs
# kept, not its weights), or each weight to its nearest grid value (data-free, faster to export).
ROUNDINGS = ("fitted", "nearest")
# `--compress recommended`: each layer's storage chosen per stage (mixed: every stage's cosine ≥ 0.999 for the
# fewest bytes; measured in the README's table).
RECOMMENDED = ("mixed",)
MIN_ELEMENTS = 2048  # weight tensors with fewer elements stay uncompressed
GROUP_SIZE = 16  # output channels sharing one palettization table at iOS 18
KMEANS_ITERATIONS = 1000  # an iteration costs microseconds; Lloyd creeps for 2^8 clusters


class CompressionError(ValueError):
    """A compression request that cannot be honoured; the message names the problem and the fix."""


@dataclass(frozen=True)
class CompressionPlan:
    """Which preset each stage gets, which op types keep uncompressed weights, and the deployment target
    (which decides the palettization granularity)."""

    preset: str = "none"
    stages: dict[str, str] = field(default_factory=dict)  # per-stage overrides
    skip_ops: tuple[str, ...] = ()  # MIL op types (conv, linear, matmul, ...) left uncompressed
    target: str = DEFAULT_TARGET
    rounding: str = ROUNDINGS[0]

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDINGS:
            raise CompressionError(f"unknown weight rounding {self.rounding!r}; choose one of {', '.join(ROUNDINGS)}")
        try:
            deployment_target(self.target)
        except ValueError as exc:
            raise CompressionError(str(exc)) from None
        for name, preset in {"default": self.preset, **self.stages}.items():
            if preset not in PRESETS:
                raise CompressionError(
                    f"unknown compression preset {preset!r} for {name}; choose one of {', '.join(PRESETS)}"
                )
            if preset == "mixed" and self.rounding != "fitted":
                raise CompressionError(
                    f"--compress mixed ({name}) chooses each layer's bits from its fitted rounding; "
                    "use --compress-rounding fitted"
                )

    @classmethod
    def parse(
        cls,
        values: tuple[str, ...],
        skip_ops: tuple[str, ...] = (),
        stage_names=(),
        target: str = DEFAULT_TARGET,
        rounding: str = ROUNDINGS[0],
    ) -> CompressionPlan:
        """From command-line values: PRESET (the default) and STAGE=PRESET (an override), e.g.
        ("palettize6", "image_encoder=int8", "mask_prompt=none"); "recommended" stands for RECOMMENDED."""
        preset, stages = "none", {}
        values = tuple(v for value in values for v in (RECOMMENDED if value == "recommended" else (value,)))
        for value in values:
            if "=" in value:
                stage, _, stage_preset = value.partition("=")
                if stage_names and stage not in stage_names:
                    raise CompressionError(
                        f"--compress {value}: unknown stage {stage!r}; stages are {', '.join(stage_names)}"
                    )
                stages[stage] = stage_preset
            else:
                preset = value
        return cls(preset, stages, tuple(sorted(set(skip_ops))), target, rounding)

    def preset_of(self, stage: str) -> str:
        return self.stages.get(stage, self.preset)

    def fitted(self, stage: str) -> bool:
        """Whether `stage`'s weights are fitted to calibration inputs before they are compressed."""
        return self.rounding == "fitted" and self.preset_of(stage) != "none"

    @property
    def active(self) -> bool:
        return self.preset != "none" or any(p != "none" for p in self.stages.values())

    def record(self, stage: str) -> dict:
        """What a stage's package records (its `edgetam.compression` metadata)."""
        preset = self.preset_of(stage)
        record: dict = {"preset": preset}
        if preset != "none":
            record.update(describe(preset, self.target))
            record["rounding"] = self.rounding
            record["skip_ops"] = list(self.skip_ops)
            record["min_elements"] = MIN_ELEMENTS
        return record

    def manifest(self, stages) -> dict:
        """The manifest's record: the default, the per-stage presets and the shared settings."""
        return {
            "preset": self.preset,
            "stages": {s: self.preset_of(s) for s in stages},
            "skip_ops": list(self.skip_ops),
            "min_elements": MIN_ELEMENTS,
            "rounding": self.rounding,
            "palettization": {**granularity(self.target), "table": "k-means (Lloyd, numpy)"},
            "int8": {"mode": "linear_symmetric", "granularity": "per_channel"},
        }


def granularity(target: str) -> dict:
    """The palettization granularity at a deployment target, as recorded."""
    if deployment_target(target).grouped_tables:
        return {"granularity": "per_grouped_channel", "group_size": GROUP_SIZE}
    return {"granularity": "per_tensor"}


def describe(preset: str, target: str = DEFAULT_TARGET) -> dict:
    """The method of a preset at a deployment target, as recorded."""
    if preset == "int8":
        return {"method": "linear_quantize_weights", "dtype": "int8", "mode": "linear_symmetric"}
    if preset == "mixed":  # one table per tensor: grouped tables would each need the tensor's size
        return {
            "method": "palettize_weights, linear_quantize_weights",
            "choices": list(MIXED_CHOICES),
            "granularity": "per_tensor",
        }
    if preset.startswith("palettize"):
        nbits = int(preset.removeprefix("palettize"))
        return {"method": "palettize_weights", "nbits": nbits, **granularity(target)}
    return {}


def kmeans_table(values: np.ndarray, nbits: int, iterations: int = KMEANS_ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means with 2^nbits centroids: (table [2^nbits] in values' dtype, indices uint8 [values.size]).

    Lloyd's iterations on the sorted values: each cluster is a run of them between two boundaries (midpoints
    of neighbouring centroids), so its mean comes from prefix sums. Lloyd stops in a local optimum that
    depends on where it starts, so it starts twice and keeps the better table: from the optimal point density
    of a fine quantizer (∝ the values' density^(1/3): centroids sparser in the tails than the values) and
    from an even grid over the range. Equal-count starts, tried first, stuck at 1.5–4× the error on weight
    tensors of a few thousand values (Gaussian, 8 bits: 0.029 of the norm against 0.0075).
    """
    flat = values.astype(np.float64).ravel()
    k = 1 << nbits
    ordered = np.sort(flat)
    prefix = np.concatenate([[0.0], np.cumsum(ordered)])
    starts = (_density_start(ordered, k), np.linspace(ordered[0], ordered[-1], k))
    fits = [_lloyd(ordered, prefix, start, iterations) for start in starts]
    centroids = min(fits, key=lambda c: _squared_error(ordered, c))
    indices = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, flat)
    return centroids.astype(values.dtype), indices.astype(np.uint8)


def lut_of(values: np.ndarray, nbits: int) -> tuple[np.ndarray, np.ndarray]:
    """(table, indices) for `values`: their own distinct values when there are at most 2^nbits (weights that
    fitted rounding already put on a table keep it exactly), else `kmeans_table`."""
    wide = values.astype(np.float64)  # numpy 2.4's unique on float16 arrays returns repeated values
    distinct = np.unique(wide)
    if distinct.size > 1 << nbits:
        return kmeans_table(values, nbits)
    table = np.concatenate([distinct, np.full((1 << nbits) - distinct.size, distinct[-1])]).astype(values.dtype)
    return table, np.searchsorted(distinct, wide.ravel()).astype(np.uint8)


def stored_bytes(preset: str, elements: int, channels: int) -> float:
    """The bytes a weight of `elements` values and `channels` output channels takes in a package under a
    per-tensor `preset` (indices and a float16 table; int8 values, a float16 scale and an int8 zero point per
    channel; float16 values)."""
    if preset == "none":
        return 2.0 * elements
    if preset == "int8":
        return elements + 3.0 * channels
    nbits = int(preset.removeprefix("palettize"))
    return elements * nbits / 8 + (2 << nbits)


def table_bits(values: np.ndarray) -> int:
    """The `mixed` preset's table size for a tensor: the smallest of MIXED_BITS that holds its distinct
    values (fitted rounding put them on a table of that size), else the largest (k-means)."""
    distinct = np.unique(values.astype(np.float64)).size  # float64: see lut_of
    return next((b for b in MIXED_BITS if distinct <= 1 << b), MIXED_BITS[-1])


def _density_start(ordered: np.ndarray, k: int) -> np.ndarray:
    """k centroids at the quantiles of the values' density^(1/3) (a histogram's), the high-resolution
    optimum for squared error."""
    bins = max(4 * k, int(np.sqrt(ordered.size)))
    counts, edges = np.histogram(ordered, bins)
    cdf = np.concatenate([[0.0], np.cumsum(np.cbrt(counts.astype(np.float64)))])
    return np.interp((np.arange(k) + 0.5) / k, cdf / cdf[-1], edges)


def _lloyd(ordered: np.ndarray, prefix: np.ndarray, centroids: np.ndarray, iterations: int) -> np.ndarray:
    n = ordered.size
    centroids = np.sort(centroids)
    for _ in range(iterations):
        cuts = np.searchsorted(ordered, (centroids[1:] + centroids[:-1]) / 2)
        starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [n]])
        updated = np.sort(np.where(ends > starts, _run_means(prefix, starts, ends, ordered), centroids))
        if np.array_equal(updated, centroids):
            break
        centroids = updated
    return centroids


def _squared_error(ordered: np.ndarray, centroids: np.ndarray) -> float:
    nearest = centroids[np.searchsorted((centroids[1:] + centroids[:-1]) / 2, ordered)]
    return float(np.square(ordered - nearest).sum())


def _run_means(prefix: np.ndarray, starts: np.ndarray, ends: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    counts = ends - starts
    fallback = ordered[np.minimum(starts, ordered.size - 1)]  # an empty run keeps a value at its place
    return np.where(counts > 0, (prefix[ends] - prefix[starts]) / np.maximum(counts, 1), fallback)


THRESHOLD = MIN_ELEMENTS - 1  # coremltools compresses tensors with more elements than its threshold


def _int8_op():
    import coremltools.optimize.coreml as cto

    return cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=THRESHOLD
    )


def _config(preset: str, skip_ops: tuple[str, ...], target: str, kept: tuple[str, ...] = ()):
    """The coremltools config of `preset`; `kept`: names of constants it leaves alone."""
    import coremltools.optimize.coreml as cto

    skipped = {op: None for op in skip_ops}
    if preset == "int8":
        op = _int8_op()
    elif preset == "mixed":
        op = cto.OpPalettizerConfig(
            mode="custom", lut_function=lambda weight: lut_of(weight, table_bits(weight)), weight_threshold=THRESHOLD
        )
    else:
        nbits = int(preset.removeprefix("palettize"))
        op = cto.OpPalettizerConfig(
            mode="custom",
            lut_function=lambda weight: lut_of(weight, nbits),
            weight_threshold=THRESHOLD,
            **granularity(target),
        )
    return cto.OptimizationConfig(global_config=op, op_type_configs=skipped, op_name_configs=dict.fromkeys(kept))


def compress_model(
    mlmodel,
    preset: str,
    skip_ops: tuple[str, ...] = (),
    target: str = DEFAULT_TARGET,
    layers: Sequence[tuple[np.ndarray, str]] | None = None,
):
    """The converted model (for `target`) with its weights compressed by `preset` (itself for `none`).

    layers: for `mixed`, each fitted layer's weight values as the stage holds them and the choice of
    MIXED_CHOICES it takes (fitted_rounding.FittedWeights.layer_choices; empty for a stage without layers
    large enough to compress)."""
    import warnings

    import coremltools.optimize.coreml as cto

    if preset == "none":
        return mlmodel
    if preset == "mixed" and layers is None:
        raise CompressionError("--compress mixed needs the fitted layers' choices (fitted rounding); none were given")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if preset == "int8":
            return cto.linear_quantize_weights(mlmodel, _config(preset, skip_ops, target))
        if preset != "mixed":
            return cto.palettize_weights(mlmodel, _config(preset, skip_ops, target))
        # Tables first: each compression call converts the program again, and coremltools then folds any
        # computation on plain constants, whatever its size; a position table computed from a coordinate grid
        # would be stored expanded (coreml_folding) unless the grid is already a table, as here.
        names = _names_by_choice(mlmodel, layers)
        mlmodel = cto.palettize_weights(
            mlmodel, _config(preset, skip_ops, target, tuple(names["int8"] + names["none"]))
        )
        int8 = _names_by_choice(mlmodel, [layer for layer in layers if layer[1] == "int8"])["int8"]
        if not int8:
            return mlmodel
        return cto.linear_quantize_weights(
            mlmodel, cto.OptimizationConfig(op_name_configs=dict.fromkeys(int8, _int8_op()))
        )


def _names_by_choice(mlmodel, layers: Sequence[tuple[np.ndarray, str]]) -> dict[str, list[str]]:
    """The program's constant names holding each choice's layers, found by value: a layer's weight, cast to
    the constant's type, equals it bit for bit."""
    constants = _constants_by_value(mlmodel)
    names: dict[str, list[str]] = {choice: [] for choice in MIXED_CHOICES}
    for values, choice in layers:
        found = [n for dtype in (np.float16, np.float32) for n in constants.get(_value_key(values.astype(dtype)), [])]
        if not found:
            raise CompressionError(
                f"a fitted {values.shape} weight is not among the converted program's constants, so its "
                f"storage ({choice}) cannot be applied; export with --compress-rounding nearest and a uniform "
                "preset, or report the stage"
            )
        names[choice] += found
    return names


def _constants_by_value(mlmodel) -> dict[tuple, list[str]]:
    """The converted program's weight constants (at least MIN_ELEMENTS elements), by `_value_key`."""
    from coremltools.converters.mil.frontend.milproto.load import load

    spec = mlmodel.get_spec()
    program = load(spec, specification_version=spec.specificationVersion, file_weights_dir=mlmodel.weights_dir)
    found: dict[tuple, list[str]] = {}

    def visit(block) -> None:
        for op in block.operations:
            for inner in op.blocks:
                visit(inner)
            value = op.outputs[0].val if op.op_type == "const" else None
            if isinstance(value, np.ndarray) and value.size >= MIN_ELEMENTS:
                found.setdefault(_value_key(value), []).append(op.name)

    for function in program.functions.values():
        visit(function)
    return found


def _value_key(values: np.ndarray) -> tuple:
    return values.dtype.str, values.shape, values.tobytes()


def package_compression(path) -> dict:
    """The `edgetam.compression` record of a saved package ({"preset": "none"} when it has none)."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    return json.loads(spec.description.metadata.userDefined.get("edgetam.compression", '{"preset": "none"}'))
