"""1×1 convolutions rewritten as matrix products over channels-last pixels, so that onnxruntime's dynamic
int8 matrix product (`DynamicQuantizeMatMul`: activations quantized per call, weights int8 per output
channel, float32 result) can run them.

onnxruntime's integer convolutions need a fixed activation range and quantize their output too
(`QLinearConv`), or are slow (`ConvInteger`, 2.5× slower than float32 for a 192→384 1×1 conv at 64²). The
matrix-product form quantizes only the input, on its own range each call, and runs 3× faster than the float32
convolution. Each rewritten conv becomes Transpose (NCHW→NHWC) · MatMul · Add(bias) · Transpose back;
transposes meeting across an element-wise op (the GELU between a block's two 1×1 convs) cancel.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import onnx
from onnx import helper, numpy_helper

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
_ELEMENTWISE = frozenset({"Gelu", "Relu", "Sigmoid", "Tanh", "Erf"})  # unary ops commuting with a transpose


def pointwise_convs_as_matmuls(model: onnx.ModelProto, exclude: Collection[str] = (), min_pixels: int = 2) -> list:
    """Rewrite every 1×1, stride-1, ungrouped, unpadded Conv with constant weights whose input has at least
    `min_pixels` pixels (squeeze-excite convs on pooled 1×1 inputs stay), except those named in `exclude`;
    returns the names of the MatMul nodes written (`<conv name>/matmul`). Needs shapes: run onnx's shape
    inference first if the graph has no value_info."""
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    pixels = _spatial_sizes(model)
    nodes, written, added = [], [], []
    for node in graph.node:
        if node.op_type != "Conv" or node.name in exclude or not _is_pointwise(node, weights):
            nodes.append(node)
            continue
        if pixels.get(node.input[0], 0) < min_pixels:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        base = node.name or node.output[0]
        w_name = f"{base}/weight_t"
        added.append(numpy_helper.from_array(np.ascontiguousarray(w[:, :, 0, 0].T), w_name))
        x_t, y_t, y_b = f"{base}/nhwc_in", f"{base}/nhwc_mm", f"{base}/nhwc_out"
        nodes.append(helper.make_node("Transpose", [node.input[0]], [x_t], name=f"{base}/to_nhwc", perm=TO_NHWC))
        mm_out = y_t if len(node.input) > 2 and node.input[2] else y_b
        nodes.append(helper.make_node("MatMul", [x_t, w_name], [mm_out], name=f"{base}/matmul"))
        if mm_out == y_t:
            nodes.append(helper.make_node("Add", [y_t, node.input[2]], [y_b], name=f"{base}/bias"))
        nodes.append(helper.make_node("Transpose", [y_b], [node.output[0]], name=f"{base}/to_nchw", perm=TO_NCHW))
        written.append(f"{base}/matmul")
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(added)
    _drop_unused_initializers(graph)
    cancel_transposes(graph)
    return written


def cancel_transposes(graph: onnx.GraphProto) -> int:
    """Remove Transpose(to NCHW) → [unary element-wise ops] → Transpose(to NHWC) chains whose intermediate
    results nothing else reads (the ops then run channels-last); returns how many pairs went."""
    outputs = {o.name for o in graph.output}
    removed = 0
    while True:
        readers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.input:
                readers.setdefault(name, []).append(node)
        pair = _find_pair(graph, readers, outputs)
        if pair is None:
            return removed
        first, middle, last = pair
        # first's input now feeds the element-wise chain directly; last's readers read the chain's end
        source = first.input[0]
        end = middle[-1].output[0] if middle else source
        if middle:
            middle[0].input[0] = source
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name == last.output[0]:
                    node.input[i] = end
        kept = [n for n in graph.node if n is not first and n is not last]
        del graph.node[:]
        graph.node.extend(kept)
        removed += 1


def _find_pair(graph, readers, outputs):
    for first in graph.node:
        if first.op_type != "Transpose" or tuple(_perm(first)) != TO_NCHW:
            continue
        chain, current = [], first
        while True:
            nxt = readers.get(current.output[0], [])
            if len(nxt) != 1 or current.output[0] in outputs:
                break
            node = nxt[0]
            if node.op_type == "Transpose" and tuple(_perm(node)) == TO_NHWC:
                if chain and chain[-1].output[0] in outputs:
                    break
                return first, chain, node
            if node.op_type not in _ELEMENTWISE or len(node.input) != 1:
                break
            chain.append(node)
            current = node
    return None


def _perm(node: onnx.NodeProto) -> list:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


def _is_pointwise(node: onnx.NodeProto, weights: dict) -> bool:
    w = weights.get(node.input[1])
    bias = node.input[2] if len(node.input) > 2 else ""
    if w is None or list(w.dims[2:]) != [1, 1] or (bias and bias not in weights):
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return (
        attrs.get("group", 1) == 1
        and all(s == 1 for s in attrs.get("strides", [1, 1]))
        and all(d == 1 for d in attrs.get("dilations", [1, 1]))
        and not any(attrs.get("pads", [0, 0, 0, 0]))
        and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET", b"VALID", "VALID")
    )


def _spatial_sizes(model: onnx.ModelProto) -> dict[str, int]:
    """Pixels (H·W) of every 4-D tensor whose shape is known."""
    sizes = {}
    for info in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 4 and all(d.HasField("dim_value") for d in dims[2:]):
            sizes[info.name] = dims[2].dim_value * dims[3].dim_value
    return sizes


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def dynamic_int8_matmuls(model: onnx.ModelProto, names: Collection[str]) -> int:
    """Replace the named MatMul nodes (constant 2-D weight as input 1), with the bias Add that follows each,
    by onnxruntime's `DynamicQuantizeMatMul`: weights stored int8 with one symmetric scale per output column,
    activations quantized to uint8 on their own range at each call, float32 result. Returns how many."""
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    wanted, replaced, dropped, added = set(names), {}, set(), []
    outputs = {o.name for o in graph.output}
    for node in graph.node:
        if node.op_type != "MatMul" or node.name not in wanted or node.input[1] not in weights:
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        if w.ndim != 2:
            continue
        scale = np.maximum(np.abs(w).max(axis=0), 1e-30) / 127.0
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        base = node.name
        added += [
            numpy_helper.from_array(q, f"{base}/weight_int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{base}/weight_scale"),
            numpy_helper.from_array(np.zeros(len(scale), np.int8), f"{base}/weight_zero"),
        ]
        inputs = [node.input[0], *(a.name for a in added[-3:])]
        output = node.output[0]
        after = readers.get(output, [])
        if len(after) == 1 and after[0].op_type == "Add" and output not in outputs:
            bias = after[0].input[1] if after[0].input[0] == output else after[0].input[0]
            if bias in weights and numpy_helper.to_array(weights[bias]).shape == (w.shape[1],):
                inputs.append(bias)
                output = after[0].output[0]
                dropped.add(id(after[0]))
        replaced[id(node)] = helper.make_node(
            "DynamicQuantizeMatMul", inputs, [output], name=f"{base}_int8", domain="com.microsoft"
        )
    if not replaced:
        return 0
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(added)
    _drop_unused_initializers(graph)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return len(replaced)
