"""A spatial mean, `ReduceMean` over H and W of a 4-D tensor with the axes kept, rewritten as the
`GlobalAveragePool` it equals (the image encoder's squeeze-excite pooling).

Why, for the static int8 image encoder: onnxruntime fuses a `GlobalAveragePool` between dequantize and
quantize into its channels-last integer kernel, while a `ReduceMean` there runs in float32 on the transposed
layout: 12.2 ms against 0.7 ms of the 1024² encoder (Xeon with AVX-512 VNNI, 2 cores).
"""

from __future__ import annotations

import onnx
from onnx import helper

from .onnx_graph import constants, reduce_axes, tensor_ranks

SPATIAL_AXES = frozenset({2, 3})


def global_average_pools(model: onnx.ModelProto) -> int:
    """Replace every ReduceMean over exactly the spatial axes of a 4-D tensor (keepdims, constant axes) by
    GlobalAveragePool; returns how many. Any other ReduceMean is left as it is."""
    graph = model.graph
    ranks = tensor_ranks(onnx.shape_inference.infer_shapes(model))
    consts = constants(graph)
    count = 0
    for i, node in enumerate(graph.node):
        if node.op_type != "ReduceMean" or ranks.get(node.input[0]) != 4:
            continue
        keepdims = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "keepdims"), 1)
        axes = reduce_axes(node, consts)
        if keepdims != 1 or axes is None or len(axes) != 2 or {a % 4 for a in axes} != SPATIAL_AXES:
            continue
        pool = helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output), name=node.name)
        graph.node[i].CopyFrom(pool)
        count += 1
    return count
