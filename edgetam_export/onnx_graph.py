"""Small reads and edits of an ONNX graph that the int8 rewrites (onnx_int8, onnx_channels_last, onnx_gelu,
onnx_dynamic_int8, onnx_pooling) share."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import onnx
from onnx import helper, numpy_helper


def constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """The value of every initializer and `Constant` node output, by name."""
    found = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            found[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return found


def tensor_ranks(model: onnx.ModelProto) -> dict[str, int]:
    """The rank of every tensor whose shape the graph records (inputs, outputs, inferred value_info)."""
    infos = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    return {i.name: len(i.type.tensor_type.shape.dim) for i in infos if i.type.tensor_type.HasField("shape")}


def reduce_axes(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> list[int] | None:
    """The axes a Reduce* node reduces, as written: its second input (opset 18) or its `axes` attribute.
    None when they are computed in the graph, or not given (every axis)."""
    if len(node.input) > 1 and node.input[1]:
        axes = consts.get(node.input[1])
        return None if axes is None else [int(a) for a in axes.ravel()]
    given = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axes"), None)
    return None if given is None else [int(a) for a in given]


def readers(nodes: Iterable[onnx.NodeProto]) -> dict[str, list[onnx.NodeProto]]:
    """The nodes reading each tensor name (a node reading a name twice is listed twice)."""
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in nodes:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def input_positions(name: str, reading: list[onnx.NodeProto]) -> list[tuple[onnx.NodeProto, int]]:
    """(node, input index) of every place the `reading` nodes read `name`."""
    unique = {id(node): node for node in reading}.values()  # protobuf messages do not hash
    return [(node, i) for node in unique for i, x in enumerate(node.input) if x == name]


def symmetric_int8(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 values and one float32 scale per index of `axis` (symmetric, ±127: zero point 0)."""
    moved = np.moveaxis(weight, axis, 0).reshape(weight.shape[axis], -1)
    scale = (np.maximum(np.abs(moved).max(axis=1), 1e-30) / 127.0).astype(np.float32)
    shape = [1] * weight.ndim
    shape[axis] = -1
    return np.clip(np.round(weight / scale.reshape(shape)), -127, 127).astype(np.int8), scale


Encoder = Callable[[onnx.TensorProto, list[tuple[onnx.NodeProto, int]]], tuple[list, onnx.NodeProto] | None]


def store_initializers(model: onnx.ModelProto, encode: Encoder) -> int:
    """Store initializers in another form, decoded by a node at the graph's start under the original name.
    `encode(initializer, its (reader, input index) places)` returns (stored initializers, decoding node), or
    None to keep the initializer as it is. Returns how many were stored otherwise."""
    graph = model.graph
    read = readers(graph.node)
    decoders, kept = [], []
    for init in graph.initializer:
        stored = encode(init, input_positions(init.name, read.get(init.name, [])))
        if stored is None:
            kept.append(init)
            continue
        kept += stored[0]
        decoders.append(stored[1])
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = decoders + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(decoders)


def drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
