"""int8 ONNX graphs: onnxruntime's quantization of each float32 stage, inputs and outputs kept float32.

What each stage gets (measured at 1024² on synthetic weights; see the README's compression table):
- `memory_attention`, `mask_decoder`, `memory_encoder`: dynamic quantization of the matrix products with a
  constant weight (projections, MLPs): weights int8 per output column, each call's activations quantized on
  the fly (onnxruntime's integer GEMM). Memory attention's fused one-head attentions compute q·kᵀ and
  weights·v in int8 too (onnx_int8_attention: both operands quantized per call; softmax in float32).
  Their other weights of more than MIN_ELEMENTS elements (the memory encoder's convolutions, shared
  perceiver weights) are stored int8 per output channel and dequantized in the graph (`DequantizeLinear`
  on the weight).
- `image_encoder`, mode "dynamic" (the default): from its stride-16 stage on (INT8_FROM_STRIDE: stages 2 and
  3, the neck's stride-16 projection) the graph runs channels-last (onnx_channels_last) and its 1×1
  convolutions, 37 of 59, become onnxruntime's dynamic int8 matrix product (onnx_dynamic_int8: activations
  quantized per call on their own range, float32 result); GELU is fused to one op (onnx_gelu). The stem and
  stages 0–1 stay NCHW and float32: at 256² and 128² their int8 products, with the layout reorders around
  their depthwise convolutions, took longer than onnxruntime's blocked float32 convolutions (stage 0: 15.3
  against 12.9 ms; stage 1: 24 against 21 ms; Xeon with AVX-512 VNNI, 2 cores). Depthwise, squeeze-excite and
  the FLOAT_POINTWISE convolutions stay float32 arithmetic, their weights stored float16 (cast back when
  onnxruntime loads the graph: no cosine or time lost, half the bytes). ×1.17 faster than the float32 image
  encoder at 1024² on that machine (alternating in one process; channels-last throughout it was ×1.07 there,
  ×1.34–1.37 on an AMD EPYC); vision_feats cosine 0.9926 on frames, 0.9951 on random images (high_res
  1.0000). No calibration: frames and random images alike fit the per-call ranges.
  How the exclusions were chosen: with every other 1×1 convolution of the int8 region quantized, keeping one
  at a time float32 and measuring the vision_feats cosine won back, on images the benchmark does not use
  (3 random, 2 frames of another clip): the four that win back the most on random images (0.0023–0.0011
  each; every second stage-2 block, which has squeeze-excite, leads) and the one that wins back the most on
  frames (stage 2's channel downsample, 0.0007). Each costs about 1.5 ms.
- `image_encoder`, mode "weights": int8-stored weights, float32 arithmetic: a quarter of the bytes, not
  faster (×1.00 on the Xeon), vision_feats cosine 0.9974 on frames, 0.9930 on random images.
- `image_encoder`, mode "static": static QDQ quantization of every convolution (`QLinearConv`), calibrated
  on frames (a generated clip or `--calibration VIDEO`). GELU is fused to one op and the squeeze-excite means
  become `GlobalAveragePool` first (onnx_gelu, onnx_pooling), so onnxruntime runs GELU's kernel once and
  pools in int8 between the quantize/dequantize pairs; unfused, the five GELU nodes and the ReduceMeans ran
  one by one and the encoder was ×0.82 of float32 on the Xeon, fused ×1.44. Its integer convolutions take 47
  ms against float32's 117; dequantizing into GELU and quantizing out of it (35 ms) and GELU itself (23) keep
  it from more. vision_feats cosine 0.936 on frames and 0.505 on random images (MinMax; Percentile 99.999
  on the AMD machine: 0.95 and 0.34); calibrated on the very image it is measured on, 0.936 and 0.960. Each
  convolution's output is rounded to uint8 too, and the network amplifies every rounding; random images
  overflow ranges calibrated on frames.
- `mask_prompt` (a tiny conv stack, run on mask prompts only) stays float32.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from runtime.manifest import STATIC_QDQ_METHOD

from .onnx_graph import drop_unused_initializers, store_initializers, symmetric_int8

FLOAT_STAGES = frozenset({"mask_prompt"})
# the image encoder's modes (the first is the default; export.INT8_IMAGE_ENCODER_MODES) and their methods
IMAGE_ENCODER_METHODS = {"dynamic": "dynamic_pointwise", "weights": "int8_weights", "static": STATIC_QDQ_METHOD}
IMAGE_ENCODER_MODES = tuple(IMAGE_ENCODER_METHODS)
# The int8 image encoder runs channels-last with int8 1×1 convolutions on features of this stride and coarser.
INT8_FROM_STRIDE = 16
# 1×1 convolutions of that region kept float32 in the "dynamic" mode: those whose int8 form costs the most
# accuracy (a keep-one-float sweep at 1024² on held-out images; see the module docstring).
FLOAT_POINTWISE: tuple[str, ...] = (
    "/body/stages_2/blocks/blocks.2/channel_mixer/conv2/c/Conv",
    "/body/stages_2/blocks/blocks.4/channel_mixer/conv1/c/Conv",
    "/body/stages_2/blocks/blocks.6/channel_mixer/conv2/c/Conv",
    "/body/stages_2/blocks/blocks.0/channel_mixer/conv2/c/Conv",
    "/body/stages_2/downsample/channel_downsample/c/Conv",
)
CALIBRATION_FRAMES = 4
MIN_ELEMENTS = 2048  # smaller weights (biases, norms) stay float32
_INTEGER_OPS = {
    "MatMulInteger",
    "MatMulIntegerToFloat",
    "ConvInteger",
    "QLinearConv",
    "QLinearMatMul",
    "DequantizeLinear",
    "DynamicQuantizeMatMul",
}


def stage_method(stage: str, image_encoder: str = IMAGE_ENCODER_MODES[0]) -> str:
    if stage in FLOAT_STAGES:
        return "float32"
    if stage == "image_encoder":
        if image_encoder not in IMAGE_ENCODER_METHODS:
            choices = ", ".join(IMAGE_ENCODER_MODES)
            raise ValueError(f"unknown int8 image encoder mode {image_encoder!r}; choose one of {choices}")
        return IMAGE_ENCODER_METHODS[image_encoder]
    return "dynamic_matmul"


def calibration_images(frames: Sequence[np.ndarray], image_size: int, count: int = CALIBRATION_FRAMES) -> list:
    """`count` frames spread over the clip, preprocessed as the runtime does ([1, 3, S, S] float32 each)."""
    from runtime.preprocess import preprocess_frame

    if not len(frames):
        raise ValueError("the calibration video has no frames")
    picks = sorted({round(i) for i in np.linspace(0, len(frames) - 1, min(count, len(frames)))})
    return [preprocess_frame(np.asarray(frames[i]), image_size).reshape(1, 3, image_size, image_size) for i in picks]


class _Frames:
    """onnxruntime's CalibrationDataReader protocol over preprocessed frames."""

    def __init__(self, images: list[np.ndarray], input_name: str) -> None:
        self._feeds = iter([{input_name: image} for image in images])

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def quantize_stage(
    stage: str,
    source: Path,
    target: Path,
    image_encoder: str = IMAGE_ENCODER_MODES[0],
    calibration: list[np.ndarray] | None = None,
    float_pointwise: Sequence[str] = FLOAT_POINTWISE,
) -> dict:
    """Write the int8 version of the float32 graph `source` to `target`; returns how it was quantized.
    The float32 graph's metadata_props are carried over."""
    method = stage_method(stage, image_encoder)
    original = onnx.load(str(source))
    if method == "float32":
        onnx.save(original, str(target))
        return {"method": method}
    with tempfile.TemporaryDirectory() as scratch, _quiet_quantizer():
        if method == "dynamic_pointwise":
            quantized, details = _dynamic_pointwise(source, Path(scratch), float_pointwise)
        else:
            quantized, details = _quantize(method, source, Path(scratch), original, calibration)
        if method == "dynamic_matmul":
            from .onnx_int8_attention import int8_attention

            details = {"int8_attention": int8_attention(quantized)}
    record = {
        "method": method,
        "integer_ops": sum(n.op_type in _INTEGER_OPS for n in quantized.graph.node),
        # the dynamic image encoder keeps its other convolutions float32: int8 weights alone cost it cosine;
        # their weights are stored float16 instead (one rounding to 2^-11: no cosine lost, half the bytes)
        "int8_weights": 0 if method == "dynamic_pointwise" else dequantized_weights(quantized),
        "float16_weights": float16_stored_weights(quantized) if method == "dynamic_pointwise" else 0,
        **details,
    }
    if method == STATIC_QDQ_METHOD:
        record["calibration_frames"] = len(calibration or ())
    quantized.producer_name = original.producer_name
    del quantized.metadata_props[:]
    for prop in original.metadata_props:
        quantized.metadata_props.add(key=prop.key, value=prop.value)
    quantized.metadata_props.add(key="edgetam.quantization", value=json.dumps(record))
    onnx.checker.check_model(quantized, full_check=True)
    onnx.save(quantized, str(target))
    return record


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer logs advice (pre-processing, bias initializers) on the root logger."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _dynamic_pointwise(source: Path, scratch: Path, float_pointwise: Sequence[str]) -> tuple[onnx.ModelProto, dict]:
    """The image encoder channels-last from stride INT8_FROM_STRIDE on, with the 1×1 convolutions there as
    dynamic int8 matrix products (onnx_channels_last, onnx_dynamic_int8), except `float_pointwise`; its
    finer stages and its 3×3, depthwise and squeeze-excite convolutions stay float32."""
    from .onnx_channels_last import channels_last
    from .onnx_dynamic_int8 import dynamic_int8_matmuls
    from .onnx_gelu import fuse_gelu

    model = onnx.load(str(_folded(source, scratch)))
    convs = {n.name for n in model.graph.node if n.op_type == "Conv"}
    unknown = sorted(set(float_pointwise) - convs)
    if unknown:
        raise ValueError(f"no convolution named {unknown[0]!r} in the image encoder (float_pointwise)")
    gelus = fuse_gelu(model)
    image_size = model.graph.input[0].type.tensor_type.shape.dim[-1].dim_value
    if not image_size:
        raise ValueError("the int8 image encoder needs the float32 graph's image size fixed (it was dynamic)")
    max_pixels = (image_size // INT8_FROM_STRIDE) ** 2
    written = channels_last(model, exclude=set(float_pointwise), max_pixels=max_pixels)
    count = dynamic_int8_matmuls(model, written)
    details = {"int8_pointwise": count, "float_pointwise": sorted(float_pointwise), "fused_gelu": gelus}
    return model, {**details, "int8_from_stride": INT8_FROM_STRIDE}


def _quantize(
    method: str, source: Path, scratch: Path, original: onnx.ModelProto, calibration
) -> tuple[onnx.ModelProto, dict]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    out = scratch / "quantized.onnx"
    if method == "dynamic_matmul":
        inlined = scratch / "inlined.onnx"
        model = onnx.load(str(source))
        inline_weight_identities(model)
        onnx.save(model, str(inlined))
        quantize_dynamic(
            str(inlined),
            str(out),
            op_types_to_quantize=["MatMul", "Gemm"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            # products of two activations stay float32 here (attention goes int8 after: onnx_int8_attention)
            extra_options={"MatMulConstBOnly": True},
        )
        return onnx.load(str(out)), {}
    folded = _folded(source, scratch)
    if method == "int8_weights":
        return onnx.load(str(folded)), {}
    if not calibration:
        raise ValueError("static quantization of the image encoder needs calibration frames")
    # GELU as one op and the squeeze-excite means as GlobalAveragePool before the quantize/dequantize pairs
    # go in: onnxruntime then runs GELU's fused kernel and pools in int8 (module docstring)
    from .onnx_gelu import fuse_gelu
    from .onnx_pooling import global_average_pools

    model = onnx.load(str(folded))
    details = {"fused_gelu": fuse_gelu(model), "global_average_pools": global_average_pools(model)}
    drop_unused_initializers(model.graph)
    onnx.save(model, str(folded))
    quantize_static(
        str(folded),
        str(out),
        _Frames(calibration, original.graph.input[0].name),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["Conv"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    return onnx.load(str(out)), details


def _folded(source: Path, scratch: Path) -> Path:
    """The image encoder with its re-parameterized mixer kernels (computed from weights in the float32 graph)
    folded to constants, by onnxruntime's pre-processing; written to `scratch`."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    folded = scratch / "folded.onnx"
    quant_pre_process(str(source), str(folded), skip_symbolic_shape=True)
    return folded


def inline_weight_identities(model: onnx.ModelProto) -> int:
    """Readers of `Identity(weight)` read the weight itself; returns how many Identity nodes went. torch's
    exporter writes such copies when one weight serves several calls (memory attention's MLP per query chunk,
    the perceiver's layers on both latent sets), and the quantizer recognizes only initializer operands."""
    weights = {t.name for t in model.graph.initializer}
    alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity" and n.input[0] in weights}
    if not alias:
        return 0
    outputs = {o.name for o in model.graph.output}
    kept = [n for n in model.graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
    if outputs & set(alias):
        raise ValueError("a graph output is a copy of a weight")
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return len(alias)


_WEIGHT_AXIS = {"Conv": 0, "MatMul": 1, "Gemm": 1}  # the output-channel axis of input 1's weight


def dequantized_weights(model: onnx.ModelProto, min_elements: int = MIN_ELEMENTS) -> int:
    """Store every float32 weight of at least `min_elements` that only Conv/MatMul/Gemm nodes read (as their
    input 1) as int8 with one symmetric scale per output channel, dequantized in the graph; returns how
    many. Gemm weights read transposed (transB) are left alone."""

    def encode(init: onnx.TensorProto, places: list) -> tuple[list, onnx.NodeProto] | None:
        axes = {_WEIGHT_AXIS.get(n.op_type) if i == 1 and not _transposed(n) else None for n, i in places}
        axis = axes.pop() if len(axes) == 1 else None
        if init.data_type != onnx.TensorProto.FLOAT or axis is None or np.prod(init.dims) < min_elements:
            return None
        weight = numpy_helper.to_array(init)
        if axis == 1 and weight.ndim != 2:
            return None
        q, scale = symmetric_int8(weight, axis)
        names = (f"{init.name}_int8", f"{init.name}_scale", f"{init.name}_zero")
        stored = [
            numpy_helper.from_array(q, names[0]),
            numpy_helper.from_array(scale, names[1]),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), names[2]),
        ]
        return stored, onnx.helper.make_node("DequantizeLinear", list(names), [init.name], axis=axis)

    return store_initializers(model, encode)


def float16_stored_weights(model: onnx.ModelProto, min_elements: int = MIN_ELEMENTS) -> int:
    """Store every float32 convolution weight of at least `min_elements` (read only as Conv's input 1) as
    float16, cast back to float32 in the graph; returns how many. onnxruntime folds the casts when it loads
    the graph, so the arithmetic and the speed stay float32's; the file loses half of those bytes."""

    def encode(init: onnx.TensorProto, places: list) -> tuple[list, onnx.NodeProto] | None:
        conv_weight = bool(places) and all(n.op_type == "Conv" and i == 1 for n, i in places)
        if init.data_type != onnx.TensorProto.FLOAT or not conv_weight or np.prod(init.dims) < min_elements:
            return None
        stored = f"{init.name}_float16"
        value = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), stored)
        return [value], onnx.helper.make_node("Cast", [stored], [init.name], to=onnx.TensorProto.FLOAT)

    return store_initializers(model, encode)


def _transposed(node: onnx.NodeProto) -> bool:
    return node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
