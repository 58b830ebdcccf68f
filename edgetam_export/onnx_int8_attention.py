"""onnxruntime's fused one-head attention (`com.microsoft.MultiHeadAttention`) with its two products in int8.

In the int8 export at 1024², memory attention's four attention products took 249 of its 318 ms in float32
(the fused kernel; Xeon with AVX-512 VNNI, 2 cores). Each attention is rewritten with onnxruntime's integer
matrix product (`MatMulIntegerToFloat`, float32 out) for both of its products:
- q·kᵀ: the queries quantized per call on their own range (uint8, `DynamicQuantizeLinear`), the keys
  symmetric int8 on their largest magnitude;
- weights·v: the softmax weights unnormalised, exp(s − max s) ∈ (0, 1] per row, in uint8 steps of 1/255 (a
  row's largest weight is 1; normalised weights of ~1/4096 would round to nothing), the values symmetric int8
  per channel, each row divided by its float32 sum afterwards.
Measured in the memory attention stage at 1024² (int8 projections as before): float32 attention 312 ms,
int8 q·kᵀ 259, both products int8 (see the README); cosine against float32 0.99991 throughout.

Memory attention's cross-attention keys carry the key-padding bias as their last channel and its queries a
last channel of ones (`reference_model.attention.keys_with_bias`): one int8 scale cannot hold a bias of −1e4
beside features of order one. Those keys are recognised by how the graph builds them (a last-axis Concat
under both, the query's ending in ones); their bias channel is split off and added to the scores in float32.
An attention whose operands are built otherwise is left as it is.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .onnx_graph import constants

_SHAPE_ONLY = frozenset({"Reshape", "Expand", "Identity"})  # ops that move no channel of the last axis


def int8_attention(model: onnx.ModelProto) -> int:
    """Rewrite every one-head `MultiHeadAttention` of three inputs (q [B, n, d], k [B, N, d], v) and a scale
    attribute in place with int8 products; returns how many."""
    graph = model.graph
    producer = {out: n for n in graph.node for out in n.output}
    consts = constants(graph)
    nodes: list[onnx.NodeProto] = []
    count = 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        one_head = node.op_type == "MultiHeadAttention" and attrs.get("num_heads") == 1 and len(node.input) == 3
        one_head = one_head and bool(attrs.get("scale"))  # the default scale (1/√d) would need d: left alone
        biased = _bias_channel(node, producer, consts) if one_head else None
        if biased is None:
            nodes.append(node)
            continue
        nodes += _int8_attention(node, float(attrs["scale"]), biased, graph, _opset(model))
        count += 1
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
        graph.initializer.extend(shared_constants())
    return count


def shared_constants() -> list[onnx.TensorProto]:
    """The constants every rewritten attention reads (added once per graph)."""
    values = {
        "127": np.float32(127.0),
        "tiny": np.float32(1e-30),  # the smallest int8 step (_int8_scale)
        "zero": np.int8(0),
        "zero_u8": np.uint8(0),
        "step": np.float32(1 / 255),
        "first": np.array([0], np.int64),
        "last": np.array([-1], np.int64),
        "end": np.array([2**62], np.int64),
        "axis": np.array([-1], np.int64),
        "rows": np.array([0, 1], np.int64),
    }
    return [numpy_helper.from_array(value, f"int8_attention/{name}") for name, value in values.items()]


def _bias_channel(node: onnx.NodeProto, producer: dict, consts: dict) -> bool | None:
    """True: the keys end in a bias channel and the queries in ones (keys_with_bias); False: plain operands;
    None: one of the two without the other, a structure this rewrite does not know (left float32)."""
    q_parts = _last_axis_concat(node.input[0], producer)
    k_parts = _last_axis_concat(node.input[1], producer)
    ones = q_parts is not None and _is_ones(q_parts[-1], producer, consts)
    if not ones and k_parts is None:
        return False
    return True if ones and k_parts is not None else None


def _last_axis_concat(name: str, producer: dict) -> list[str] | None:
    """The inputs of the last-axis Concat `name` is a reshaped or broadcast copy of, if it is one."""
    node = producer.get(name)
    while node is not None and node.op_type in _SHAPE_ONLY:
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Concat":
        return None
    axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), None)
    return list(node.input) if axis == -1 else None


def _is_ones(name: str, producer: dict, consts: dict) -> bool:
    """A constant one channel wide of ones, or a ConstantOfShape of 1 (its width is the graph's)."""
    if name in consts:
        value = consts[name]
        return value.ndim > 0 and value.shape[-1] == 1 and bool(np.all(value == 1))
    node = producer.get(name)
    if node is None or node.op_type != "ConstantOfShape":
        return False
    fill = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"), np.zeros(1))
    return bool(np.all(fill == 1))


def _int8_attention(node: onnx.NodeProto, scale: float, biased: bool, graph: onnx.GraphProto, opset: int) -> list:
    q, k, v = node.input
    base = node.name or node.output[0]
    nodes = []
    if biased:  # features and the bias channel apart: q[..., :-1]·k[..., :-1]ᵀ + k[..., -1]ᵀ (q's last is 1)
        first, last, end, axis = (f"int8_attention/{n}" for n in ("first", "last", "end", "axis"))
        nodes += [
            helper.make_node("Slice", [q, first, last, axis], [f"{base}/q_features"], name=f"{base}/q_features"),
            helper.make_node("Slice", [k, first, last, axis], [f"{base}/k_features"], name=f"{base}/k_features"),
            helper.make_node("Slice", [k, last, end, axis], [f"{base}/k_bias"], name=f"{base}/k_bias"),
            helper.make_node("Transpose", [f"{base}/k_bias"], [f"{base}/bias"], name=f"{base}/bias", perm=[0, 2, 1]),
        ]
        q, k = f"{base}/q_features", f"{base}/k_features"
    graph.initializer.append(numpy_helper.from_array(np.float32(scale), f"{base}/scale"))
    scores = f"{base}/scores"
    nodes += [
        helper.make_node("DynamicQuantizeLinear", [q], [f"{base}/q_u8", f"{base}/q_scale", f"{base}/q_zero"]),
        *_int8_scale(k, None, f"{base}/k", opset),
        helper.make_node("QuantizeLinear", [k, f"{base}/k_scale", "int8_attention/zero"], [f"{base}/k_s8"]),
        helper.make_node("Transpose", [f"{base}/k_s8"], [f"{base}/k_t"], perm=[0, 2, 1]),
        helper.make_node("Mul", [f"{base}/k_scale", f"{base}/scale"], [f"{base}/k_scaled"]),
        helper.make_node(
            "MatMulIntegerToFloat",
            [f"{base}/q_u8", f"{base}/k_t", f"{base}/q_scale", f"{base}/k_scaled", f"{base}/q_zero"]
            + ["int8_attention/zero"],
            [scores if not biased else f"{base}/feature_scores"],
            name=f"{base}/scores_int8",
            domain="com.microsoft",
        ),
    ]
    if biased:
        nodes.append(helper.make_node("Add", [f"{base}/feature_scores", f"{base}/bias"], [scores]))
    return nodes + _int8_weighted_values(scores, v, node.output[0], base, opset)


def _int8_weighted_values(scores: str, v: str, output: str, base: str, opset: int) -> list:
    """softmax(scores)·v with the product in int8: the weights unnormalised, exp(s − max s) ∈ (0, 1] per
    row, in uint8 steps of 1/255 (a row's largest weight is 1, whatever its length: normalised weights of
    ~1/4096 would round to nothing); the values symmetric int8 per channel; then divided by each row's sum."""
    axis, step, zero_u8 = "int8_attention/axis", "int8_attention/step", "int8_attention/zero_u8"
    return [
        _reduce_max(scores, "axis", f"{base}/row_max", True, opset),
        helper.make_node("Sub", [scores, f"{base}/row_max"], [f"{base}/shifted"]),
        helper.make_node("Exp", [f"{base}/shifted"], [f"{base}/weights"]),
        helper.make_node("ReduceSum", [f"{base}/weights", axis], [f"{base}/row_sum"], keepdims=1),
        helper.make_node("QuantizeLinear", [f"{base}/weights", step, zero_u8], [f"{base}/weights_u8"]),
        # per channel: QuantizeLinear's per-axis form would want a zero point per channel, of the graph's width
        *_int8_scale(v, "rows", f"{base}/v", opset),
        helper.make_node("Div", [v, f"{base}/v_scale"], [f"{base}/v_steps"]),
        helper.make_node("Round", [f"{base}/v_steps"], [f"{base}/v_rounded"]),
        helper.make_node("Cast", [f"{base}/v_rounded"], [f"{base}/v_s8"], to=onnx.TensorProto.INT8),
        helper.make_node(
            "MatMulIntegerToFloat",
            [f"{base}/weights_u8", f"{base}/v_s8", step, f"{base}/v_scale", zero_u8, "int8_attention/zero"],
            [f"{base}/unnormalised"],
            name=f"{base}/values_int8",
            domain="com.microsoft",
        ),
        helper.make_node("Div", [f"{base}/unnormalised", f"{base}/row_sum"], [output], name=f"{base}/values"),
    ]


def _int8_scale(x: str, axes: str | None, prefix: str, opset: int) -> list[onnx.NodeProto]:
    """Nodes computing `{prefix}_scale`, the symmetric int8 step of `x`: its largest magnitude over the shared
    constant `axes` (None: over all of it) / 127, at least `tiny` (all-zero operands stay finite)."""
    largest = (
        helper.make_node("ReduceMax", [f"{prefix}_abs"], [f"{prefix}_max"], keepdims=0)
        if axes is None
        else _reduce_max(f"{prefix}_abs", axes, f"{prefix}_max", False, opset)
    )
    return [
        helper.make_node("Abs", [x], [f"{prefix}_abs"]),
        largest,
        helper.make_node("Div", [f"{prefix}_max", "int8_attention/127"], [f"{prefix}_step"]),
        helper.make_node("Max", [f"{prefix}_step", "int8_attention/tiny"], [f"{prefix}_scale"]),
    ]


def _reduce_max(source: str, axes: str, target: str, keepdims: bool, opset: int) -> onnx.NodeProto:
    """ReduceMax over the shared constant `axes`: an input from opset 18, an attribute before."""
    if opset >= 18:
        return helper.make_node("ReduceMax", [source, f"int8_attention/{axes}"], [target], keepdims=int(keepdims))
    constant = next(t for t in shared_constants() if t.name == f"int8_attention/{axes}")
    values = [int(v) for v in numpy_helper.to_array(constant)]
    return helper.make_node("ReduceMax", [source], [target], keepdims=int(keepdims), axes=values)


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
