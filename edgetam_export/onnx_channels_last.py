"""A convolutional graph rewritten channels-last (NHWC) between its convolutions, with its 1×1 convolutions
as matrix products over pixels: the form onnxruntime's dynamic int8 matrix product needs (onnx_pointwise).

Every 4-D tensor is kept NHWC; each remaining convolution is wrapped in Transpose(to NCHW) · Conv ·
Transpose(to NHWC), which onnxruntime's NCHWc layout pass absorbs into the reorders it runs around a
convolution anyway (`ReorderInput`/`ReorderOutput` with `channels_last`), so the layout change costs nothing
there. Element-wise ops, squeeze-excite pooling and resizes are rewritten for the new axis order; any other
op on a 4-D tensor makes the rewrite refuse (`ChannelsLastError`) rather than guess.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .onnx_graph import constants, reduce_axes, tensor_ranks
from .onnx_graph import readers as graph_readers

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}  # where each NCHW axis lands
_UNARY = frozenset({"Gelu", "Relu", "Sigmoid", "Tanh", "Erf", "Identity"})
_BINARY = frozenset({"Add", "Mul", "Sub", "Div"})


class ChannelsLastError(ValueError):
    """The graph holds an op the channels-last rewrite does not know how to move."""


def channels_last(
    model: onnx.ModelProto, exclude: Collection[str] = (), min_pixels: int = 2, max_pixels: int | None = None
) -> list[str]:
    """Rewrite `model` in place (shapes inferred first); returns the names of the MatMul nodes written for
    1×1, stride-1, ungrouped, unpadded convolutions with constant weights on NHWC inputs of at least
    `min_pixels` pixels (`<conv name>/matmul`), except the convolutions named in `exclude`.

    With `max_pixels`, only 4-D tensors of at most that many pixels go NHWC; larger ones stay NCHW, where
    onnxruntime runs the float convolutions in its blocked layout with no reorder between them. A tensor of
    one pixel (squeeze-excite's pooled vector) keeps the layout of the tensor it was computed from."""
    model_inferred = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    ranks = tensor_ranks(model_inferred)
    pixels = _pixels(model_inferred)
    consts = constants(graph)
    weights = {t.name: t for t in graph.initializer}
    four_d = {name for name, rank in ranks.items() if rank == 4 and name not in consts}
    nhwc = _nhwc_tensors(graph, four_d, pixels, max_pixels)
    nodes: list[onnx.NodeProto] = []
    added: list[onnx.TensorProto] = []
    written: list[str] = []
    moved: dict[tuple[str, bool], str] = {}  # one transpose per tensor and direction, shared by its readers

    renamed = {i.name: f"{i.name}/nhwc" for i in graph.input if i.name in nhwc}
    nodes += [_transpose(name, target, TO_NHWC) for name, target in renamed.items()]

    def read(name: str, want_nhwc: bool) -> str:
        """`name` in the layout a node works in (a Transpose added where the tensor is in the other)."""
        if name not in four_d or (name in nhwc) == want_nhwc:
            return renamed.get(name, name)
        if (name, want_nhwc) not in moved:
            target = f"{name}/{'nhwc' if want_nhwc else 'nchw'}"
            nodes.append(_transpose(renamed.get(name, name), target, TO_NHWC if want_nhwc else TO_NCHW))
            moved[(name, want_nhwc)] = target
        return moved[(name, want_nhwc)]

    for node in graph.node:
        touches = [n for n in list(node.input) + list(node.output) if n in four_d]
        if node.op_type == "Constant" or not touches:
            nodes.append(node)
            continue
        base = node.name or node.output[0]
        works_nhwc = (node.output[0] if node.output[0] in four_d else touches[0]) in nhwc
        if node.op_type == "Conv":
            source = node.input[0]
            pointwise = _is_pointwise(node, weights) and pixels.get(source, 0) >= min_pixels
            if pointwise and works_nhwc and source in nhwc and node.name not in exclude:
                weight = numpy_helper.to_array(weights[node.input[1]])
                nodes += _as_matmul(node, read(source, True), weight, added, base)
                written.append(f"{base}/matmul")
            else:
                nodes += _conv_nchw(node, read(source, False), node.output[0] in nhwc, base)
            continue
        inputs = [read(n, works_nhwc) for n in node.input]
        if node.op_type in _UNARY:
            nodes.append(_with_inputs(node, inputs))
        elif node.op_type in _BINARY:
            fixed = []
            for original, name in zip(node.input, inputs):
                if original in four_d:
                    fixed.append(name)
                elif original in consts:
                    relaid = works_nhwc and _nhwc_constant(consts[original], f"{base}/{original}/nhwc", added)
                    fixed.append(relaid or original)
                elif ranks.get(original, 0) <= 1:
                    fixed.append(name)  # a computed scalar broadcasts the same either way
                else:
                    raise ChannelsLastError(f"{node.op_type} {base!r} mixes a 4-D tensor with {original!r}")
            nodes.append(_with_inputs(node, fixed))
        elif node.op_type == "ReduceMean":
            nodes.append(_reduce_mean(node, inputs, consts, added, base) if works_nhwc else _with_inputs(node, inputs))
        elif node.op_type == "Resize":
            nodes.append(_resize(node, inputs, consts, added, base) if works_nhwc else _with_inputs(node, inputs))
        else:
            raise ChannelsLastError(f"no channels-last form for {node.op_type} node {base!r}")

    outputs = {o.name for o in graph.output if o.name in nhwc}
    for node in nodes:
        for i, name in enumerate(node.output):
            if name in outputs:
                node.output[i] = f"{name}/nhwc"
        for i, name in enumerate(node.input):
            if name in outputs:
                node.input[i] = f"{name}/nhwc"
    nodes += [_transpose(f"{name}/nhwc", name, TO_NCHW) for name in sorted(outputs)]
    del graph.node[:]
    graph.node.extend(_without_round_trips(nodes, {o.name for o in graph.output}))
    graph.initializer.extend(added)
    del graph.value_info[:]  # the layouts changed; onnxruntime infers shapes itself
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return written


def _nhwc_tensors(graph: onnx.GraphProto, four_d: set, pixels: dict, max_pixels: int | None) -> set[str]:
    """The 4-D tensors laid out NHWC: all of them, or with `max_pixels` those of at most that many pixels;
    tensors of one pixel or of unknown size follow the first 4-D tensor their node reads."""
    if max_pixels is None:
        return set(four_d)
    chosen = {i.name for i in graph.input if i.name in four_d and pixels.get(i.name, 0) <= max_pixels}
    for node in graph.node:
        source = next((n for n in node.input if n in four_d), None)
        for name in node.output:
            if name not in four_d:
                continue
            size = pixels.get(name, 1)
            if (source in chosen) if size == 1 and source is not None else size <= max_pixels:
                chosen.add(name)
    return chosen


def _without_round_trips(nodes: list, outputs: set) -> list:
    """Drop Transpose(to NHWC) → [unary ops, one reader each] → Transpose(to NCHW) round trips, e.g. the
    image's transpose when the stem convolution reads it, or the stem's GELU between its two convolutions:
    there the tensor stays NCHW (a 12 MB transpose of the 1024² image saved)."""
    while True:
        producer = {out: n for n in nodes for out in n.output}
        readers = graph_readers(nodes)
        for last in nodes:
            if last.op_type != "Transpose" or _perm(last) != TO_NCHW or last.output[0] in outputs:
                continue
            chain, first = [], producer.get(last.input[0])
            while first is not None and first.op_type in _UNARY and len(first.input) == 1:
                chain.insert(0, first)
                first = producer.get(first.input[0])
            if first is None or first.op_type != "Transpose" or _perm(first) != TO_NHWC:
                continue
            inner = [n.output[0] for n in chain] + ([first.output[0]] if chain else [])
            if any(len(readers.get(name, [])) != 1 or name in outputs for name in inner):
                continue
            end = chain[-1].output[0] if chain else first.input[0]
            if chain:
                chain[0].input[0] = first.input[0]
            for node in readers.get(last.output[0], []):
                node.input[:] = [end if name == last.output[0] else name for name in node.input]
            unread = len(readers.get(first.output[0], [])) == 1 and first.output[0] not in outputs
            dead = {id(last), id(first)} if unread else {id(last)}
            nodes = [n for n in nodes if id(n) not in dead]
            break
        else:
            return nodes


def _perm(node: onnx.NodeProto) -> tuple:
    return tuple(next((list(a.ints) for a in node.attribute if a.name == "perm"), []))


def _as_matmul(node: onnx.NodeProto, source: str, weight: np.ndarray, added: list, base: str) -> list:
    """A 1×1 convolution on NHWC pixels: MatMul by the transposed kernel, then the bias."""
    added.append(numpy_helper.from_array(np.ascontiguousarray(weight[:, :, 0, 0].T), f"{base}/weight_t"))
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else ""
    product = f"{base}/matmul_out" if bias else node.output[0]
    nodes = [helper.make_node("MatMul", [source, f"{base}/weight_t"], [product], name=f"{base}/matmul")]
    if bias:
        nodes.append(helper.make_node("Add", [product, bias], [node.output[0]], name=f"{base}/bias"))
    return nodes


def _conv_nchw(node: onnx.NodeProto, source: str, output_nhwc: bool, base: str) -> list:
    """A convolution reading NCHW `source`; an NHWC output is transposed back (onnxruntime's NCHWc layout
    pass absorbs such transposes into the reorders it runs around a convolution anyway)."""
    conv = _with_inputs(node, [source, *node.input[1:]])
    if not output_nhwc:
        return [conv]
    conv.output[0] = f"{base}/nchw_out"
    return [conv, _transpose(conv.output[0], node.output[0], TO_NHWC)]


def _transpose(source: str, target: str, perm: tuple[int, ...]) -> onnx.NodeProto:
    kind = "to_nhwc" if tuple(perm) == TO_NHWC else "to_nchw"
    return helper.make_node("Transpose", [source], [target], name=f"{target}/{kind}", perm=list(perm))


def _with_inputs(node: onnx.NodeProto, inputs: list[str]) -> onnx.NodeProto:
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    del copy.input[:]
    copy.input.extend(inputs)
    return copy


def _nhwc_constant(value: np.ndarray, name: str, added: list) -> str | None:
    """A constant broadcast against a 4-D NCHW tensor, re-laid for NHWC (None: a scalar, unchanged)."""
    if value.size == 1:
        return None
    if value.ndim > 4:
        raise ChannelsLastError(f"constant of rank {value.ndim} beside a 4-D tensor")
    padded = value.reshape((1,) * (4 - value.ndim) + value.shape)
    added.append(numpy_helper.from_array(np.ascontiguousarray(padded.transpose(TO_NHWC)), name))
    return name


def _reduce_mean(node, inputs, consts, added, base) -> onnx.NodeProto:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("keepdims", 1) != 1:
        raise ChannelsLastError(f"ReduceMean {base!r} drops axes (keepdims=0)")
    axes = reduce_axes(node, consts)
    if axes is None:
        raise ChannelsLastError(f"ReduceMean {base!r} reduces every axis or reads computed axes")
    moved = sorted(NHWC_AXIS[a % 4] for a in axes)
    copy = _with_inputs(node, inputs)
    if len(node.input) > 1 and node.input[1]:  # opset 18: axes as an input
        added.append(numpy_helper.from_array(np.array(moved, np.int64), f"{base}/axes_nhwc"))
        copy.input[1] = f"{base}/axes_nhwc"
    else:
        for a in copy.attribute:
            if a.name == "axes":
                a.ints[:] = moved
    return copy


def _resize(node, inputs, consts, added, base) -> onnx.NodeProto:
    copy = _with_inputs(node, inputs)
    if len(node.input) > 1 and node.input[1] and consts.get(node.input[1], np.zeros(0)).size:
        raise ChannelsLastError(f"Resize {base!r} has a region of interest")
    for index in (2, 3):  # scales, sizes: one entry per axis
        if len(node.input) > index and node.input[index]:
            value = consts.get(node.input[index])
            if value is None or value.size != 4:
                raise ChannelsLastError(f"Resize {base!r} reads computed scales or sizes")
            name = f"{base}/{'scales' if index == 2 else 'sizes'}_nhwc"
            added.append(numpy_helper.from_array(value[list(TO_NHWC)], name))
            copy.input[index] = name
    return copy


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


def _pixels(model: onnx.ModelProto) -> dict[str, int]:
    sizes = {}
    for info in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 4 and all(d.HasField("dim_value") for d in dims[2:]):
            sizes[info.name] = dims[2].dim_value * dims[3].dim_value
    return sizes
