"""Core ML exporter: one ML Program (`.mlpackage`) per stage, iOS 17 target, float16 compute by default.

Each stage is traced with `torch.jit.trace` on the registry's example inputs (B = 1) and converted with
coremltools. Inputs and outputs carry the registry's names, shapes (capacity axes K, N, P fixed to the
export's capacities), float32 I/O types and descriptions; every package records its stage contract, the
weights' provenance and its batch mode in `user_defined_metadata`.

Object batch B. Stages whose inputs have the batch axis B get `ct.RangeDim(1, max_objects, default=1)`.
Core ML runs range-flexible models on the Neural Engine for the default shape only (other shapes run on
the GPU or CPU, per Apple's answer on the developer forums), so B = 1, the common case, keeps the ANE and
several objects per call still work; nothing is forced to fp32 or to the CPU. Inputs whose batch is a
literal 1 (vision_feats, high_res_*) stay 1. When a stage does not convert with a flexible B, it is
exported with B fixed at 1 (the runtime then calls it once per object) and the reason is stored in the
package's `edgetam.batch` metadata. Today that is `memory_encoder`: the perceiver's window split
(`SpatialPerceiver.window_latents`) reshapes to a rank-6 tensor; with a static B coremltools' graph passes
fold the reshape/permute/reshape to rank ≤ 5, with a symbolic B they cannot, and Core ML rejects rank 6.
Writing the split with rank ≤ 5 tensors (reshape to [B·C, g, win, g, win], swap axes 2 and 3, reshape to
[B, C, g², win²], permute to [B, g², win², C]) gives the same tokens and converts with a flexible B.

A flexible B is used only when the graph traced at B = 1 also gives the module's results at B = 2.

Precision. fp16 stages keep every op in float16 except: op types `FP32_OPS` names for a stage, and in
the stages of `FP32_POOLED` every op on a pooled [B, C, 1, 1] tensor — the RepViT squeeze-excite gates
(global mean, two 1×1 convs, ReLU, sigmoid), selected with `ct.transform.FP16ComputePrecision(op_selector=
...)`. Measured in the programs (the `mlprogram` interpreter: float16 storage after every op, float32
arithmetic inside an op as Core ML's CPU kernels) at 1024²: on order-one weights every stage passes
PSNR ≥ 35 dB and cosine ≥ 0.999 by a wide margin; on weights whose stride-16 features have std ~250
(`synthetic_model(feature_scale=3)`) the image encoder still passes (vision_feats cosine 0.99966 / 50.8 dB
and 0.99949 / 49.0 dB on verify's two inputs); at std ~700 (`feature_scale=8`) it fell to 0.9928 / 38.2 dB,
the per-op comparison ranked the gate sigmoids first (their logits reach the hundreds and float16 stores
them in steps of 0.25–0.5), and with the gates in float32 it is 0.9978 / 43.2 dB (0.9800 / 33.3 on the
second input) — the rest is the float16 *weights* (the same program with float32 storage gives 0.9976),
which no storage choice recovers. The Neural Engine may lose more than the interpreter models, which only a
Mac can measure.

Folded weights are rounded to float16 once: the stage is converted from its float32 graph, so coremltools
folds the batch norms and the token mixers' re-parameterized kernels in float32 and casts the results.
Measured at 1024² (scale 3): every one of the 83 folded conv weights the program uses is within one float16
half-ulp of the float64 fold — what the float16 ONNX export now does explicitly (`export.float16_stages`),
where `.half()` had left the folds to float16 arithmetic (3–7 half-ulps).

Sizes: position and RoPE tables are built in the graph from per-axis rows, not stored (coreml_folding).

coremltools 9.0 gaps, patched for the duration of a conversion only (the registry is restored after):
its `int`/`bool`/`float` casts call `int()` on one-element arrays, which numpy ≥ 2.4 rejects
(apple/coremltools#2633); `Tensor.new_ones` and the `|` operator on bool tensors have no converter.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from runtime.contract import STAGES, Stage, contract, resolve

from . import __version__
from .coreml_compression import CompressionPlan, compress_model
from .coreml_folding import pass_pipeline
from .coreml_targets import DEFAULT_TARGET, DeploymentTarget, deployment_target
from .examples import example_inputs
from .fitted_rounding import FittedWeights

# MIL op types kept in float32 in an fp16 export, per stage (see the module docstring).
FP32_OPS: dict[str, frozenset[str]] = {}
# Stages whose ops on pooled [B, C, 1, 1] tensors (squeeze-excite gates) stay float32 in an fp16 export.
FP32_POOLED: frozenset[str] = frozenset({"image_encoder"})
_BATCH = "B"


class CoreMLExportError(RuntimeError):
    """A stage that coremltools cannot convert; the message names the stage and the cause."""


# ---------------------------------------------------------------------------------------------------------
# coremltools 9.0 compatibility (registered only while converting)


def _scalar_cast(py_type: type, mil_dtype: str):
    """Converter for aten::Int/Bool/Float that accepts one-element tensors of any rank."""
    from coremltools.converters.mil import Builder as mb

    def convert(context, node) -> None:
        x = context[node.inputs[0]]
        if x.can_be_folded_to_const():
            value = np.asarray(x.val)
            if value.size != 1:
                raise ValueError(f"{node.kind} of a tensor with {value.size} elements")
            result = mb.const(val=py_type(value.reshape(()).item()), name=node.name)
        else:
            if x.rank > 0:
                x = mb.squeeze(x=x, name=f"{node.name}_scalar")
            result = mb.cast(x=x, dtype=mil_dtype, name=node.name)
        context.add(result, node.name)

    return convert


def _new_ones(context, node) -> None:
    """tensor.new_ones(size, dtype, ...) → fill(size, 1), cast to dtype when one is given."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.utils import NUM_TO_DTYPE_STRING

    inputs = [context[name] if name in context else None for name in node.inputs]
    size = inputs[1]
    if isinstance(size, (list, tuple)):
        size = mb.concat(values=list(size), axis=0)
    dtype = inputs[2] if len(inputs) > 2 else None
    dtype = NUM_TO_DTYPE_STRING.get(int(dtype.val)) if dtype is not None and dtype.val is not None else None
    if dtype in (None, "fp32"):
        result = mb.fill(shape=size, value=1.0, name=node.name)
    else:
        result = mb.cast(x=mb.fill(shape=size, value=1.0), dtype=dtype, name=node.name)
    context.add(result, node.name)


@contextlib.contextmanager
def _torch_frontend_fixes() -> Iterator[None]:
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    table = _TORCH_OPS_REGISTRY.name_to_func_mapping
    saved = dict(table)
    try:
        table["int"] = _scalar_cast(int, "int32")
        table["bool"] = _scalar_cast(bool, "bool")
        table["float"] = _scalar_cast(float, "fp32")
        table.setdefault("new_ones", _new_ones)
        table.setdefault("or", table["logical_or"])  # `a | b` on bool tensors (sanitized from __or__)
        yield
    finally:
        table.clear()
        table.update(saved)


# ---------------------------------------------------------------------------------------------------------
# Export


def _has_batch(stage: Stage) -> bool:
    return any(_BATCH in t.shape for t in stage.inputs)


def _dims(shape: tuple, sizes: dict[str, int], batch) -> tuple:
    resolved = resolve(shape, {**sizes, _BATCH: batch})
    unknown = [d for d in resolved if isinstance(d, str)]
    if unknown:
        raise CoreMLExportError(f"sizes lack {unknown}: Core ML needs every axis but B fixed (give K, N, P)")
    return resolved


def _description(tensor, sizes: dict[str, int], batch_max: int) -> str:
    """The registry's description plus the concrete shape, e.g. "image_encoder output [1, 256, 32, 32]"."""
    batch = "1" if batch_max == 1 else f"B ≤ {batch_max}"
    dims = ", ".join(batch if d == _BATCH else str(d) for d in resolve(tensor.shape, sizes))
    return f"{tensor.description} [{dims}]"


def contract_json(stage: Stage, sizes: dict[str, int], batch: dict) -> str:
    """The stage contract stored in a package: registry names, shapes (B symbolic), dtypes, descriptions."""
    return json.dumps(contract(stage, sizes, batch=batch))


def _compute_precision(stage: str, precision: str):
    import coremltools as ct

    if precision == "fp32":
        return ct.precision.FLOAT32
    if precision != "fp16":
        raise CoreMLExportError(f"unknown precision {precision!r}; choose fp16 or fp32")
    keep = FP32_OPS.get(stage, frozenset())
    pooled = stage in FP32_POOLED
    if not keep and not pooled:
        return ct.precision.FLOAT16

    def to_fp16(op) -> bool:
        return op.op_type not in keep and not (pooled and _on_pooled_map(op))

    return ct.transform.FP16ComputePrecision(op_selector=to_fp16)


def _on_pooled_map(op) -> bool:
    """Whether every output of a MIL op is a [B, C, 1, 1] tensor (a squeeze-excite gate's)."""
    shapes = [getattr(out, "shape", None) for out in op.outputs]
    return bool(shapes) and all(s is not None and len(s) == 4 and tuple(s[2:]) == (1, 1) for s in shapes)


def fp32_rules(stage: str) -> list[str]:
    """What an fp16 export of `stage` keeps in float32 (for the package's metadata)."""
    rules = sorted(FP32_OPS.get(stage, ()))
    return rules + (["ops on pooled [B, C, 1, 1] tensors (squeeze-excite gates)"] if stage in FP32_POOLED else [])


def _trace(module: nn.Module, args: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace's deprecation notice
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return torch.jit.trace(module.eval(), args, check_trace=False)


def _batch_generic(traced, module: nn.Module, stage: Stage, sizes: dict[str, int]) -> bool:
    """Whether a graph traced at B = 1 computes what the module computes at B = 2 (no batch size baked in)."""
    example = example_inputs(stage.name, {**sizes, _BATCH: 2}, seed=1)
    args = tuple(example[name] for name in stage.input_names)
    with torch.no_grad():
        want, got = module(*args), traced(*args)
    want = (want,) if isinstance(want, torch.Tensor) else tuple(want)
    got = (got,) if isinstance(got, torch.Tensor) else tuple(got)
    return len(want) == len(got) and all(
        w.shape == g.shape and torch.allclose(w, g, rtol=1e-4, atol=1e-4 * max(float(w.abs().max()), 1.0))
        for w, g in zip(want, got)
    )


def _convert(traced, inputs, outputs, compute_precision, target: str = DEFAULT_TARGET):
    import coremltools as ct

    with _torch_frontend_fixes(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ct.convert(
            traced,
            inputs=inputs,
            outputs=outputs,
            convert_to="mlprogram",
            minimum_deployment_target=deployment_target(target).coremltools(),
            compute_precision=compute_precision,
            pass_pipeline=pass_pipeline(),
        )


def _fill_metadata(
    mlmodel, stage: Stage, sizes: dict, metadata: dict[str, str], batch: dict, precision: str, plan: CompressionPlan
):  # the deployment target is the plan's (compression depends on it)
    batch_max = batch.get("max", 1)
    mlmodel.author = metadata.get("author", "edgetam-export")
    mlmodel.license = metadata.get("license", "")
    mlmodel.version = metadata.get("version", __version__)
    mlmodel.short_description = f"EdgeTAM {stage.name}: {stage.summary}"
    names_in = {i.name for i in mlmodel.get_spec().description.input}
    for tensor in stage.inputs:
        if tensor.name in names_in:
            mlmodel.input_description[tensor.name] = _description(tensor, sizes, batch_max)
    for tensor in stage.outputs:
        mlmodel.output_description[tensor.name] = _description(tensor, sizes, batch_max)
    extra = {k: v for k, v in metadata.items() if k not in ("author", "license", "version", "weights")}
    user = {
        "edgetam.stage": stage.name,
        "edgetam.contract": contract_json(stage, sizes, batch),
        "edgetam.weights": metadata.get("weights", "{}"),
        "edgetam.batch": json.dumps(batch),
        "edgetam.precision": precision,
        "edgetam.fp32_ops": json.dumps(fp32_rules(stage.name) if precision == "fp16" else []),
        "edgetam.deployment_target": plan.target,
        "edgetam.toolkit_version": __version__,
        "edgetam.compression": json.dumps(plan.record(stage.name)),
        **{k if k.startswith("edgetam.") else f"edgetam.{k}": str(v) for k, v in extra.items()},
    }
    for key, value in user.items():
        mlmodel.user_defined_metadata[key] = value


def _save(mlmodel, path: Path) -> None:
    """Write the package beside `path` and move it into place, so a failed save leaves no half package."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".partial-{path.name}")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        mlmodel.save(str(temp))
        if path.exists():
            shutil.rmtree(path)
        temp.rename(path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def export_coreml(
    module: nn.Module,
    stage: Stage,
    sizes: dict[str, int],
    max_objects: int,
    path: Path,
    precision: str,
    metadata: dict[str, str],
    plan: CompressionPlan | None = None,
) -> None:
    """Trace `module` (B = 1 example inputs), convert it to an ML Program and save it at `path` (.mlpackage).

    sizes: the model's sizes plus the capacities K, N, P. max_objects: upper bound of a flexible B.
    precision: "fp16" or "fp32". metadata: author, license, version, weights (provenance JSON); any other
    key is stored in user_defined_metadata under "edgetam.<key>". plan: the weight compression and the
    deployment target (coreml_compression; none and iOS 17 by default).
    """
    plan = plan or CompressionPlan()
    mlmodel, batch = convert_stage(module, stage, sizes, max_objects, precision, plan.target)
    save_package(mlmodel, stage, sizes, metadata, batch, precision, plan, path, layer_choices(module))


def layer_choices(module: nn.Module) -> list[tuple[np.ndarray, str]] | None:
    """What the `mixed` compression needs of a stage: its fitted layers' weights and presets (None for a stage
    that is not fitted)."""
    return module.layer_choices() if isinstance(module, FittedWeights) else None


def save_package(
    mlmodel,
    stage: Stage,
    sizes,
    metadata,
    batch: dict,
    precision: str,
    plan: CompressionPlan,
    path,
    layers: Sequence[tuple[np.ndarray, str]] | None = None,
):
    """Compress a converted stage's weights as `plan` says (`layers`: layer_choices of the stage converted),
    fill its metadata and save it at `path`."""
    sizes = {k: v for k, v in sizes.items() if k != _BATCH}
    mlmodel = compress_model(mlmodel, plan.preset_of(stage.name), plan.skip_ops, plan.target, layers)
    _fill_metadata(mlmodel, stage, sizes, metadata, batch, precision, plan)
    _save(mlmodel, path)


def convert_stage(
    module: nn.Module,
    stage: Stage,
    sizes: dict[str, int],
    max_objects: int,
    precision: str,
    target: str = DEFAULT_TARGET,
):
    """Trace and convert one stage: (MLModel, batch mode {"min", "max"[, "fixed_because"]})."""
    import coremltools as ct

    sizes = {k: v for k, v in sizes.items() if k != _BATCH}
    example = example_inputs(stage.name, {**sizes, _BATCH: 1})
    traced = _trace(module, tuple(example[name] for name in stage.input_names))
    outputs = [ct.TensorType(name=t.name, dtype=np.float32) for t in stage.outputs]
    compute_precision = _compute_precision(stage.name, precision)

    def tensor_inputs(batch) -> list:
        return [
            ct.TensorType(name=t.name, shape=ct.Shape(_dims(t.shape, sizes, batch)), dtype=np.float32)
            for t in stage.inputs
        ]

    batch: dict = {"min": 1, "max": 1}
    mlmodel = None
    if _has_batch(stage) and max_objects > 1:
        if not _batch_generic(traced, module, stage, sizes):
            batch["fixed_because"] = "the graph traced at B = 1 gives other results than the module at B = 2"
        else:
            flexible = ct.RangeDim(1, max_objects, default=1, symbol=_BATCH)
            try:
                mlmodel = _convert(traced, tensor_inputs(flexible), outputs, compute_precision, target)
                batch = {"min": 1, "max": max_objects}
            except Exception as exc:  # a flexible B that fails falls back to B = 1, and says why
                cause = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
                batch["fixed_because"] = f"flexible B did not convert ({cause})"
    if mlmodel is None:
        try:
            mlmodel = _convert(traced, tensor_inputs(1), outputs, compute_precision, target)
        except Exception as exc:
            raise CoreMLExportError(f"{stage.name}: Core ML conversion failed: {exc}") from exc
    return mlmodel, batch


class _NormalizedInput(nn.Module):
    """Wraps the image encoder so it takes 0..255 RGB: x/255, then (x − mean)/std per channel."""

    def __init__(self, module: nn.Module, mean, std) -> None:
        super().__init__()
        self.module = module
        mean_t = torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std_t), persistent=False)
        self.register_buffer("shift", -mean_t / std_t, persistent=False)

    def forward(self, image: torch.Tensor):
        return self.module(image * self.scale + self.shift)


def export_image_encoder_image_input(
    module: nn.Module,
    sizes: dict[str, int],
    path: Path,
    precision: str,
    metadata: dict[str, str],
    mean,
    std,
    plan: CompressionPlan | None = None,
) -> None:
    """The image encoder with an RGB image input ("image", 1×3×S×S, e.g. a camera pixel buffer resized to
    S×S); the /255 and mean/std normalization run inside the graph. Outputs as the registry's image_encoder."""
    import coremltools as ct

    stage = STAGES["image_encoder"]
    side = sizes["S"]
    wrapped = _NormalizedInput(module, mean, std).eval()
    example = torch.rand(1, 3, side, side) * 255
    traced = _trace(wrapped, (example,))
    image = ct.ImageType(name="image", shape=(1, 3, side, side), color_layout=ct.colorlayout.RGB)
    outputs = [ct.TensorType(name=t.name, dtype=np.float32) for t in stage.outputs]
    plan = plan or CompressionPlan()
    try:
        mlmodel = _convert(traced, [image], outputs, _compute_precision(stage.name, precision), plan.target)
    except Exception as exc:
        raise CoreMLExportError(f"image_encoder (RGB image input): Core ML conversion failed: {exc}") from exc
    batch = {"min": 1, "max": 1}
    mlmodel = compress_model(mlmodel, plan.preset_of(stage.name), plan.skip_ops, plan.target, layer_choices(module))
    _fill_metadata(mlmodel, stage, sizes, metadata, batch, precision, plan)
    mlmodel.short_description = f"EdgeTAM image_encoder with an RGB image input: {stage.summary}"
    mlmodel.input_description["image"] = (
        f"RGB frame resized to {side}×{side} (0…255); /255 and ImageNet mean/std are applied inside"
    )
    mlmodel.user_defined_metadata["edgetam.preprocessing"] = json.dumps(
        {"image_size": side, "scale": 1 / 255, "mean": list(mean), "std": list(std), "in_graph": True}
    )
    _save(mlmodel, path)


# ---------------------------------------------------------------------------------------------------------
# Checking a saved package (no prediction: works on Linux)

_DTYPES = {"float32": "FLOAT32", "float16": "FLOAT16", "int32": "INT32", "float64": "DOUBLE"}


def _array_dtype_name(array_type) -> str:
    from coremltools.proto import FeatureTypes_pb2

    return FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array_type.dataType)


def _feature_dims(array_type) -> list[tuple[int, int]]:
    """(lower, upper) per axis of a multi-array feature (upper −1: unbounded)."""
    fixed = list(array_type.shape)
    ranges = list(array_type.shapeRange.sizeRanges)
    if ranges:
        return [(r.lowerBound, r.upperBound) for r in ranges]
    if array_type.HasField("enumeratedShapes"):
        shapes = [list(s.shape) for s in array_type.enumeratedShapes.shapes]
        return [(min(s[i] for s in shapes), max(s[i] for s in shapes)) for i in range(len(fixed))]
    return [(d, d) for d in fixed]


def _value_dims(value_type) -> list[int | None] | None:
    if not value_type.HasField("tensorType"):
        return None
    dims = []
    for d in value_type.tensorType.dimensions:
        dims.append(d.constant.size if d.WhichOneof("dimension") == "constant" else None)
    return dims


def _iter_ops(block) -> Iterator:
    for op in block.operations:
        yield op
        for inner in op.blocks:
            yield from _iter_ops(inner)


def _ops_after_target(spec, target: DeploymentTarget) -> list[str]:
    """MIL op types in the program that the deployment target's opset does not have."""
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    bad = set()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in _iter_ops(block):
                versions = SSAOpRegistry.core_ops.get(op.type)
                if not versions or min(versions) > target.coremltools():
                    bad.add(op.type)
    return sorted(bad)


def op_types(path: Path) -> dict[str, int]:
    """How often each MIL op type occurs in a saved package (for inspection and tests)."""
    import coremltools as ct

    counts: dict[str, int] = {}
    spec = ct.utils.load_spec(str(path))
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in _iter_ops(block):
                counts[op.type] = counts.get(op.type, 0) + 1
    return dict(sorted(counts.items()))


def package_batch(path: Path) -> dict:
    """The batch mode a package was exported with: {"min": 1, "max": n} (+ "fixed_because")."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    return json.loads(spec.description.metadata.userDefined.get("edgetam.batch", '{"min": 1, "max": 1}'))


def check_package(path: Path, stage: Stage, sizes: dict[str, int]) -> list[str]:
    """Problems of a saved .mlpackage against the registry; an empty list when it matches.

    Checks: it loads as an ML Program spec for the deployment target it records (iOS 17 when none); input
    and output names, shapes (the registry's, with K, N, P from `sizes`; B either fixed 1 or a range from 1)
    and dtypes; an image input (the RGB variant) is RGB S×S; descriptions, author/license/version and the
    edgetam metadata are filled; every MIL op exists in that target's opset.
    """
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2

    path = Path(path)
    sizes = {k: v for k, v in sizes.items() if k != _BATCH}
    problems: list[str] = []
    if not path.exists():
        return [f"{path} does not exist"]
    try:
        spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    except Exception as exc:  # any load failure is the one problem to report
        return [f"{path.name} does not load as a Core ML package: {exc}"]
    if spec.WhichOneof("Type") != "mlProgram":
        problems.append(f"model type is {spec.WhichOneof('Type')}, expected mlProgram")
    recorded = dict(spec.description.metadata.userDefined).get("edgetam.deployment_target", DEFAULT_TARGET)
    try:
        target = deployment_target(recorded)
    except ValueError as exc:
        return problems + [str(exc)]
    if spec.specificationVersion > target.spec_version:
        problems.append(f"specification version {spec.specificationVersion} needs a newer OS than {target.name}")
    for name, function in spec.mlProgram.functions.items():
        if function.opset not in target.opsets:
            problems.append(f"function {name} uses opset {function.opset}, newer than {target.name}")
    bad_ops = _ops_after_target(spec, target)
    if bad_ops:
        problems.append(f"MIL ops not available at {target.name}: {', '.join(bad_ops)}")

    description = spec.description
    user = dict(description.metadata.userDefined)
    batch_max = None
    got_in = [f.name for f in description.input]
    if got_in != stage.input_names:
        problems.append(f"inputs {got_in}, expected {stage.input_names}")
    for feature in description.input:
        tensor = next((t for t in stage.inputs if t.name == feature.name), None)
        if tensor is None:
            continue
        kind = feature.type.WhichOneof("Type")
        if kind == "imageType":
            image = feature.type.imageType
            side = sizes["S"]
            color = FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(image.colorSpace)
            if (image.width, image.height) != (side, side) or color != "RGB" or tuple(tensor.shape[:2]) != (1, 3):
                problems.append(
                    f"image input {feature.name}: {image.width}×{image.height} {color}, expected RGB {side}²"
                )
        elif kind != "multiArrayType":
            problems.append(f"input {feature.name} is a {kind}, expected a multi-array")
        else:
            batch_max = _check_array(feature, tensor, sizes, problems, "input", batch_max)
        if not feature.shortDescription:
            problems.append(f"input {feature.name} has no description")

    got_out = [f.name for f in description.output]
    if got_out != stage.output_names:
        problems.append(f"outputs {got_out}, expected {stage.output_names}")
    program_out = _program_outputs(spec)
    for feature in description.output:
        tensor = next((t for t in stage.outputs if t.name == feature.name), None)
        if tensor is None:
            continue
        if feature.type.WhichOneof("Type") != "multiArrayType":
            problems.append(f"output {feature.name} is not a multi-array")
            continue
        dtype = _array_dtype_name(feature.type.multiArrayType)
        if dtype != _DTYPES[tensor.dtype]:
            problems.append(f"output {feature.name} has dtype {dtype}, expected {_DTYPES[tensor.dtype]}")
        dims = program_out.get(feature.name)
        expected = resolve(tensor.shape, {**sizes, **({_BATCH: 1} if batch_max in (None, 1) else {})})
        if dims is None or len(dims) != len(expected):
            problems.append(f"output {feature.name} has shape {dims}, expected {list(expected)}")
        else:
            for axis, (got, want) in enumerate(zip(dims, expected)):
                if want == _BATCH:
                    if got not in (None, 1):
                        problems.append(f"output {feature.name} axis {axis} (B) is {got}, expected flexible")
                elif got is None and batch_max not in (None, 1):
                    continue  # with a flexible batch Core ML may leave derived output dims symbolic
                elif got != want:
                    problems.append(f"output {feature.name} has shape {dims}, expected {list(expected)}")
                    break
        if not feature.shortDescription:
            problems.append(f"output {feature.name} has no description")

    metadata = description.metadata
    for field in ("author", "license", "versionString", "shortDescription"):
        if not getattr(metadata, field):
            problems.append(f"metadata {field} is empty")
    for key in ("edgetam.stage", "edgetam.contract", "edgetam.weights", "edgetam.batch"):
        if not user.get(key):
            problems.append(f"user_defined_metadata lacks {key}")
    if user.get("edgetam.stage") and user["edgetam.stage"] != stage.name:
        problems.append(f"package is stage {user['edgetam.stage']}, expected {stage.name}")
    for key in ("edgetam.contract", "edgetam.weights", "edgetam.batch"):
        try:
            json.loads(user.get(key, "{}"))
        except json.JSONDecodeError:
            problems.append(f"user_defined_metadata {key} is not JSON")
    return problems


def _check_array(feature, tensor, sizes, problems: list[str], kind: str, batch_max):
    array = feature.type.multiArrayType
    dtype = _array_dtype_name(array)
    if dtype != _DTYPES[tensor.dtype]:
        problems.append(f"{kind} {feature.name} has dtype {dtype}, expected {_DTYPES[tensor.dtype]}")
    dims = _feature_dims(array)
    want = resolve(tensor.shape, sizes)
    if len(dims) != len(want):
        problems.append(f"{kind} {feature.name} has rank {len(dims)}, expected {len(want)}")
        return batch_max
    for axis, ((lo, hi), size) in enumerate(zip(dims, want)):
        if size == _BATCH:
            if lo != 1 or hi < 1:
                problems.append(f"{kind} {feature.name} axis {axis} (B) ranges {lo}…{hi}, expected from 1")
            elif batch_max is not None and hi != batch_max:
                problems.append(f"{kind} {feature.name} allows B up to {hi}, other inputs up to {batch_max}")
            batch_max = hi
        elif isinstance(size, str):
            problems.append(f"{kind} {feature.name} axis {axis} is {size}: sizes lack it")
        elif (lo, hi) != (size, size):
            problems.append(f"{kind} {feature.name} axis {axis} is {lo}…{hi}, expected {size}")
    return batch_max


def _program_outputs(spec) -> dict[str, list[int | None] | None]:
    """Output shapes as the MIL program types them (None for a symbolic axis)."""
    types = {}
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            produced = {out.name: out.type for op in _iter_ops(block) for out in op.outputs}
            for name in block.outputs:
                if name in produced:
                    types[name] = _value_dims(produced[name])
    return types
