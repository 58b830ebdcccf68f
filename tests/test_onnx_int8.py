"""The int8 ONNX image encoder's rewrites (onnx_gelu, onnx_pooling, onnx_channels_last, onnx_dynamic_int8) on
small graphs, and the 256² export's image encoder: integer matrix products present after onnxruntime's
optimizations, the float32 exclusions honoured, cosine on frames unlike the calibration clip above a floor
measured here."""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgetam_export.metrics import cosine
from edgetam_export.onnx_channels_last import ChannelsLastError, channels_last
from edgetam_export.onnx_dynamic_int8 import dynamic_int8_matmuls
from edgetam_export.onnx_gelu import fuse_gelu
from edgetam_export.onnx_int8 import FLOAT_POINTWISE
from edgetam_export.onnx_pooling import global_average_pools

C, H = 16, 8


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, np.float32), name))


def _erf_gelu(x: str, y: str, prefix: str, half_first: bool) -> list[onnx.NodeProto]:
    """torch's traced exact GELU, in either of the two orders torch writes it."""
    p = prefix
    nodes = [
        helper.make_node("Div", [x, f"{p}sqrt2"], [f"{p}d"]),
        helper.make_node("Erf", [f"{p}d"], [f"{p}e"]),
        helper.make_node("Add", [f"{p}e", f"{p}one"], [f"{p}a"]),
    ]
    if half_first:
        nodes += [helper.make_node("Mul", [x, f"{p}half"], [f"{p}h"]), helper.make_node("Mul", [f"{p}h", f"{p}a"], [y])]
    else:
        nodes += [helper.make_node("Mul", [x, f"{p}a"], [f"{p}m"]), helper.make_node("Mul", [f"{p}m", f"{p}half"], [y])]
    return [_const(f"{p}sqrt2", math.sqrt(2.0)), _const(f"{p}one", 1.0), _const(f"{p}half", 0.5), *nodes]


def _small_encoder(rng) -> onnx.ModelProto:
    """What the image encoder is made of: a strided 3×3 stem, a depthwise conv, squeeze-excite (mean, two
    1×1 convs on the pooled 1×1 tensor, sigmoid, per-channel gate), 1×1 → GELU → 1×1 with a residual add,
    a per-channel constant, a nearest upsample, two outputs."""

    def w(*shape):
        return numpy_helper.from_array((rng.standard_normal(shape) / math.sqrt(np.prod(shape[1:]))).astype(np.float32))

    inits = []
    for name, shape in {
        "stem_w": (C, 3, 3, 3),
        "dw_w": (C, 1, 3, 3),
        "se1_w": (4, C, 1, 1),
        "se2_w": (C, 4, 1, 1),
        "pw1_w": (2 * C, C, 1, 1),
        "pw2_w": (C, 2 * C, 1, 1),
        "head_w": (8, C, 1, 1),
    }.items():
        t = w(*shape)
        t.name = name
        inits.append(t)
    for name, n in {"pw1_b": 2 * C, "pw2_b": C, "head_b": 8}.items():
        inits.append(numpy_helper.from_array((0.1 * rng.standard_normal(n)).astype(np.float32), name))
    inits += [
        numpy_helper.from_array((1 + 0.1 * rng.standard_normal((C, 1, 1))).astype(np.float32), "gamma"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "stem_w"], ["s"], name="stem", strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["s", "dw_w"], ["d"], name="dw", group=C, pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["d", "axes"], ["pool"], keepdims=1),
        helper.make_node("Conv", ["pool", "se1_w"], ["p1"], name="se1"),
        helper.make_node("Relu", ["p1"], ["p1r"]),
        helper.make_node("Conv", ["p1r", "se2_w"], ["p2"], name="se2"),
        helper.make_node("Sigmoid", ["p2"], ["gate"]),
        helper.make_node("Mul", ["d", "gate"], ["y"]),
        helper.make_node("Conv", ["y", "pw1_w", "pw1_b"], ["h1"], name="pw1"),
        *_erf_gelu("h1", "g", "gelu_", half_first=False),
        helper.make_node("Conv", ["g", "pw2_w", "pw2_b"], ["h2"], name="pw2"),
        helper.make_node("Add", ["y", "h2"], ["r"]),
        helper.make_node("Mul", ["r", "gamma"], ["rg"]),
        helper.make_node("Conv", ["rg", "head_w", "head_b"], ["out"], name="head"),
        helper.make_node("Resize", ["rg", "", "scales"], ["up"], mode="nearest"),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2 * H, 2 * H])],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, H, H]),
            helper.make_tensor_value_info("up", TensorProto.FLOAT, [1, C, 2 * H, 2 * H]),
        ],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _run_all(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})


@pytest.mark.parametrize("half_first", [False, True])
def test_fuse_gelu_writes_one_gelu_op(half_first):
    graph = helper.make_graph(
        _erf_gelu("x", "y", "g_", half_first),
        "gelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 50])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 50])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = np.linspace(-6, 6, 100, dtype=np.float32).reshape(2, 50)
    want = _run(model, x)
    assert fuse_gelu(model) == 1
    assert [n.op_type for n in model.graph.node if n.op_type != "Constant"] == ["Gelu"]
    assert {o.domain: o.version for o in model.opset_import}[""] == 20
    np.testing.assert_allclose(_run(model, x), want, atol=1e-6)


def test_global_average_pools_rewrite_only_spatial_means():
    """A mean over H and W (axes as an input, opset 18, or negative) becomes GlobalAveragePool with the same
    value; a mean that drops its axes, covers the channels or reads a 3-D tensor stays ReduceMean."""
    axes = {"hw": [2, 3], "neg": [-1, -2], "ch": [1, 2], "drop": [2, 3]}
    nodes = [
        helper.make_node("Constant", [], [f"{k}_axes"], value=numpy_helper.from_array(np.array(v, np.int64)))
        for k, v in axes.items()
    ]
    nodes += [
        helper.make_node("ReduceMean", ["x", f"{k}_axes"], [k], keepdims=0 if k == "drop" else 1, name=k) for k in axes
    ]
    nodes += [
        helper.make_node("Reshape", ["x", "flat_shape"], ["x3"]),
        helper.make_node("ReduceMean", ["x3", "neg_axes"], ["flat"], name="flat"),
    ]
    shapes = {"hw": [2, C, 1, 1], "neg": [2, C, 1, 1], "ch": [2, 1, 1, H], "drop": [2, C], "flat": [2, 1, 1]}
    graph = helper.make_graph(
        nodes,
        "means",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, C, H, H])],
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in shapes.items()],
        [numpy_helper.from_array(np.array([2, C, H * H], np.int64), "flat_shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = np.random.default_rng(3).standard_normal((2, C, H, H)).astype(np.float32)
    want = _run_all(model, x)
    assert global_average_pools(model) == 2
    ops = {n.name: n.op_type for n in model.graph.node if n.name}
    assert ops == {
        "hw": "GlobalAveragePool",
        "neg": "GlobalAveragePool",
        "ch": "ReduceMean",
        "drop": "ReduceMean",
        "flat": "ReduceMean",
    }
    for got, expected in zip(_run_all(model, x), want):
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_channels_last_keeps_the_function_and_the_exclusions():
    rng = np.random.default_rng(0)
    model = _small_encoder(rng)
    x = rng.standard_normal((1, 3, 2 * H, 2 * H)).astype(np.float32)
    want = _run_all(model, x)
    assert fuse_gelu(model) == 1
    written = channels_last(model, exclude={"pw2"})
    onnx.checker.check_model(model, full_check=True)
    # pw1 and head become matrix products; pw2 is excluded; the SE convs see 1×1 inputs; stem/dw are 3×3
    assert written == ["pw1/matmul", "head/matmul"]
    convs = sorted(n.name for n in model.graph.node if n.op_type == "Conv")
    assert convs == ["dw", "pw2", "se1", "se2", "stem"]
    for got, ref in zip(_run_all(model, x), want):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("max_pixels", [0, H * H])
def test_channels_last_leaves_larger_tensors_nchw(max_pixels):
    """With `max_pixels`, tensors of more pixels keep NCHW: all of them at 0 (no rewrite, no transpose); at
    H² the image and the upsample's output stay NCHW, and the upsample reads its input transposed back."""
    rng = np.random.default_rng(2)
    model = _small_encoder(rng)
    x = rng.standard_normal((1, 3, 2 * H, 2 * H)).astype(np.float32)
    want = _run_all(model, x)
    written = channels_last(model, max_pixels=max_pixels)
    onnx.checker.check_model(model, full_check=True)
    transposes = [n for n in model.graph.node if n.op_type == "Transpose"]
    if max_pixels == 0:
        assert written == [] and transposes == []
    else:
        assert written == ["pw1/matmul", "pw2/matmul", "head/matmul"]
        assert not [n for n in transposes if "x" in n.input or "up" in n.output]
        resize = next(n for n in model.graph.node if n.op_type == "Resize")
        assert resize.output[0] == "up" and resize.input[0] == "rg/nchw"
        assert [n.input[0] for n in transposes if n.output[0] == "rg/nchw"] == ["rg"]
    for got, ref in zip(_run_all(model, x), want):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_channels_last_refuses_an_unknown_op():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, H, H])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, C * H * H])
    graph = helper.make_graph([helper.make_node("Flatten", ["x"], ["y"], name="flat")], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(ChannelsLastError, match="Flatten"):
        channels_last(model)


def test_dynamic_int8_matmuls_take_the_bias_and_stay_close():
    rng = np.random.default_rng(1)
    model = _small_encoder(rng)
    x = rng.standard_normal((1, 3, 2 * H, 2 * H)).astype(np.float32)
    want = _run_all(model, x)
    written = channels_last(model)
    assert dynamic_int8_matmuls(model, written[:1]) == 1  # pw1 only
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("DynamicQuantizeMatMul") == 1 and ops.count("MatMul") == len(written) - 1
    fused = next(n for n in model.graph.node if n.op_type == "DynamicQuantizeMatMul")
    assert fused.input[-1] == "pw1_b"  # the bias Add went into the integer product
    weight = {t.name: t for t in model.graph.initializer}[fused.input[1]]
    assert weight.data_type == TensorProto.INT8
    for got, ref in zip(_run_all(model, x), want):
        assert cosine(got, ref) > 0.999


# ---------------------------------------------------------------------------------------------------------
# The 256² export's image encoder (the int8 export of test_compression is module-scoped there; this one
# converts the image encoder alone, the stage under test).

FRAME_COSINE_FLOOR = 0.99  # measured at 256²: vision_feats ≥ 0.9936 on frames, ≥ 0.9960 on verify's random images


@pytest.fixture(scope="module")
def int8_encoder(tmp_path_factory):
    from edgetam_export.examples import TRACE_SIZES, example_inputs
    from edgetam_export.onnx_int8 import quantize_stage
    from edgetam_export.to_onnx import export_onnx
    from reference_model import EdgeTamConfig, Stages, synthetic_model
    from runtime.contract import STAGES, model_sizes

    model = synthetic_model(1, EdgeTamConfig(image_size=256))[0]
    stages = Stages(model).eval()
    sizes = model_sizes(model.cfg.to_dict())
    folder = tmp_path_factory.mktemp("int8_encoder")
    traced, path = folder / "fp32.onnx", folder / "int8.onnx"
    example = example_inputs("image_encoder", {**sizes, **TRACE_SIZES})
    export_onnx(stages.image_encoder, STAGES["image_encoder"], example, traced, {"edgetam.contract": "{}"})
    record = quantize_stage("image_encoder", traced, path)
    return path, record, stages.image_encoder


def test_int8_image_encoder_runs_integer_products(int8_encoder, tmp_path):
    from runtime.backends.onnx import session_options

    path, record, _ = int8_encoder
    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    assert record["method"] == "dynamic_pointwise" and record["int8_weights"] == 0
    assert ops.count("DynamicQuantizeMatMul") == record["int8_pointwise"] == record["integer_ops"] > 30
    # int8 from stride 16 on: nothing of the stem, stages 0–1 or stage 2's stride-8 pre-block
    int8_names = [n.name for n in model.graph.node if n.op_type == "DynamicQuantizeMatMul"]
    finer = ("/stem/", "/stages_0/", "/stages_1/", "/stages_2/downsample/pre_block/")
    assert record["int8_from_stride"] == 16 and not [n for n in int8_names if any(f in n for f in finer)]
    assert any("/stages_3/" in n for n in int8_names) and any("/stages_2/blocks/" in n for n in int8_names)
    assert "Erf" not in ops and ops.count("Gelu") == record["fused_gelu"] > 0
    # the excluded 1×1 convolutions are still float32 convolutions, under their own names; the float
    # convolutions' stored weights are float16, cast to float32 in the graph (onnxruntime folds the casts)
    weights = {t.name: t for t in model.graph.initializer}
    casts = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Cast"}
    convs = {n.name: n for n in model.graph.node if n.op_type == "Conv"}
    assert record["float_pointwise"] == sorted(FLOAT_POINTWISE)
    assert set(FLOAT_POINTWISE) <= set(convs)
    stored = [weights[casts[c.input[1]]] for c in convs.values() if c.input[1] in casts]
    assert len(stored) == record["float16_weights"] > 0
    assert all(t.data_type == TensorProto.FLOAT16 for t in stored)
    float32_stored = [
        c.input[1]
        for c in convs.values()
        if c.input[1] in weights
        and weights[c.input[1]].data_type == TensorProto.FLOAT
        and np.prod(weights[c.input[1]].dims) >= 2048
    ]
    assert not float32_stored
    meta = json.loads({p.key: p.value for p in model.metadata_props}["edgetam.quantization"])
    assert meta == record
    # after onnxruntime's optimizations (as the runtime opens it) the integer products remain, and the
    # layout changes around the float convolutions were absorbed into the NCHWc reorders
    options = session_options()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    optimized = [n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node]
    assert optimized.count("DynamicQuantizeMatMul") == record["int8_pointwise"]
    assert optimized.count("Transpose") < ops.count("Transpose") // 3, (
        optimized.count("Transpose"),
        ops.count("Transpose"),
    )


def test_int8_image_encoder_cosine_on_frames(int8_encoder):
    import torch

    from benchmarks.int8_image_encoder import evaluation_images

    path, _, reference = int8_encoder
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for kind, images in evaluation_images(256).items():
        for image in images:
            got = dict(zip(names, session.run(None, {"image": image})))
            with torch.no_grad():
                want = dict(zip(names, (t.numpy() for t in reference(torch.from_numpy(image)))))
            for name in names:
                c = cosine(got[name], want[name])
                print(f"int8 image encoder at 256², {kind}: {name} cosine {c:.5f}")
                assert c >= FRAME_COSINE_FLOOR, (kind, name, c)


def test_export_options_know_the_image_encoder_modes():
    from edgetam_export.export import INT8_IMAGE_ENCODER_MODES, ExportError, ExportOptions
    from edgetam_export.onnx_int8 import IMAGE_ENCODER_MODES, stage_method

    assert INT8_IMAGE_ENCODER_MODES == IMAGE_ENCODER_MODES and IMAGE_ENCODER_MODES[0] == "dynamic"
    assert ExportOptions().int8_image_encoder == "dynamic"
    assert stage_method("image_encoder") == "dynamic_pointwise"
    with pytest.raises(ExportError, match="choose one of dynamic, weights, static"):
        ExportOptions(int8_image_encoder="qdq")
