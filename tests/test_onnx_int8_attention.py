"""int8 products in onnxruntime's fused one-head attention (onnx_int8_attention) on small graphs built as the
exported memory attention builds them: plain self-attention, and cross-attention whose keys carry the
key-padding bias as a last channel against queries ending in ones."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgetam_export.metrics import cosine
from edgetam_export.onnx_int8_attention import int8_attention
from reference_model.attention import MASKED

B, N_Q, N_K, D = 2, 64, 48, 32


def _mha(q: str, k: str, v: str, out: str, scale: float, name: str) -> onnx.NodeProto:
    return helper.make_node(
        "MultiHeadAttention", [q, k, v], [out], name=name, domain="com.microsoft", num_heads=1, scale=scale
    )


def _model(query_end: str, opset: int = 17) -> onnx.ModelProto:
    """x [B, n, D] attends to itself; then, with its queries scaled and a last channel `query_end` ("ones" or
    "twos") appended, to memory [B, N, D] whose keys end in `bias` [B, N, 1] (keys_with_bias)."""
    value = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)  # noqa: E731
    fill = np.full((B, N_Q, 1), 1.0 if query_end == "ones" else 2.0, np.float32)
    nodes = [
        _mha("x", "x", "x", "self_out", D**-0.5, "self_attn"),
        helper.make_node("Mul", ["self_out", "q_scale"], ["q_scaled"]),
        helper.make_node("Concat", ["q_scaled", "q_end"], ["q_cat"], axis=-1),
        helper.make_node("Expand", ["q_cat", "q_shape"], ["q"]),
        helper.make_node("Concat", ["memory", "bias"], ["k_cat"], axis=-1),
        helper.make_node("Reshape", ["k_cat", "k_shape"], ["k"]),
        _mha("q", "k", "memory", "y", 1.0, "cross_attn"),
    ]
    inits = [
        numpy_helper.from_array(np.float32(D**-0.5), "q_scale"),
        numpy_helper.from_array(fill, "q_end"),
        numpy_helper.from_array(np.array([B, N_Q, D + 1], np.int64), "q_shape"),
        numpy_helper.from_array(np.array([B, N_K, D + 1], np.int64), "k_shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "attention",
        [value("x", [B, N_Q, D]), value("memory", [B, N_K, D]), value("bias", [B, N_K, 1])],
        [value("y", [B, N_Q, D])],
        inits,
    )
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def _feeds(rng) -> dict[str, np.ndarray]:
    bias = np.zeros((B, N_K, 1), np.float32)
    bias[0, -10:] = MASKED  # the first object's last ten memory slots are padding; the second has none
    return {
        "x": rng.standard_normal((B, N_Q, D)).astype(np.float32),
        "memory": rng.standard_normal((B, N_K, D)).astype(np.float32),
        "bias": bias,
    }


def _run(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _attention_without_padding(x: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """What the model computes for one object, in float64, over the memory slots that are not padding."""
    x, memory = x.astype(np.float64), memory.astype(np.float64)
    attended = _softmax(x @ x.T * D**-0.5) @ x
    return _softmax(attended * D**-0.5 @ memory.T) @ memory


@pytest.mark.parametrize("opset", [17, 18])  # ReduceMax's axes: an attribute, then an input
def test_int8_attention_rewrites_both_attentions_and_keeps_the_padding_out(opset):
    rng = np.random.default_rng(0)
    model, feeds = _model("ones", opset), _feeds(rng)
    want = _run(model, feeds)
    assert int8_attention(model) == 2
    onnx.checker.check_model(model, full_check=True)
    ops = _ops(model)
    # per attention: int8 q·kᵀ and int8 weights·v; no float matrix product or softmax is left
    assert ops.count("MatMulIntegerToFloat") == 4 and not {"MultiHeadAttention", "MatMul", "Softmax"} & set(ops)
    assert ops.count("Slice") == 3  # the cross-attention's query features, key features and key bias
    got = _run(model, feeds)
    assert cosine(got, want) > 0.999
    # the padded slots weigh nothing: object 0 against float64 attention over its other slots
    assert cosine(got[0], _attention_without_padding(feeds["x"][0], feeds["memory"][0, :-10])) > 0.999
    assert cosine(got[1], _attention_without_padding(feeds["x"][1], feeds["memory"][1])) > 0.999


def test_one_int8_scale_for_features_and_bias_would_lose_the_features():
    """Why the bias channel is split off: on one scale, −1e4 sets the int8 step and the features round to 0."""
    from edgetam_export.onnx_int8_attention import _int8_attention, shared_constants

    rng = np.random.default_rng(1)
    model, feeds = _model("ones"), _feeds(rng)
    want = _run(model, feeds)
    cross = next(n for n in model.graph.node if n.name == "cross_attn")
    rewritten = _int8_attention(cross, 1.0, False, model.graph, opset=17)
    nodes = [m for n in model.graph.node for m in (rewritten if n is cross else [n])]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(shared_constants())
    assert cosine(_run(model, feeds), want) < 0.99


def test_unrecognised_keys_leave_the_attention_float32():
    """Queries ending in ones but keys not built by a last-axis Concat: a structure the rewrite does not
    know, left as it is (the self-attention is still rewritten)."""
    rng = np.random.default_rng(2)
    model, feeds = _model("ones"), _feeds(rng)
    want = _run(model, feeds)
    reshape = next(n for n in model.graph.node if n.op_type == "Reshape")
    at = list(model.graph.node).index(reshape)
    reshape.input[0] = "k_twice_negated"  # the same keys, now computed by ops the rewrite does not look through
    model.graph.node.insert(at, helper.make_node("Neg", ["k_negated"], ["k_twice_negated"]))
    model.graph.node.insert(at, helper.make_node("Neg", ["k_cat"], ["k_negated"]))
    assert int8_attention(model) == 1
    assert [n.name for n in model.graph.node if n.op_type == "MultiHeadAttention"] == ["cross_attn"]
    assert cosine(_run(model, feeds), want) > 0.999


def test_queries_not_ending_in_ones_leave_the_attention_float32():
    model = _model("twos")
    assert int8_attention(model) == 1  # the self-attention only
    assert [n.name for n in model.graph.node if n.op_type == "MultiHeadAttention"] == ["cross_attn"]
