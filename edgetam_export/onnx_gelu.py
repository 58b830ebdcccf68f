"""torch's exact GELU, traced as `x * 0.5 * (1 + erf(x / √2))` (five nodes), rewritten as one ONNX `Gelu`.

onnxruntime fuses that pattern itself in a float32 graph, but not once quantize/dequantize pairs surround
it: the five nodes then run one by one (twice the time of the fused kernel in the int8 image encoder).
"""

from __future__ import annotations

import math

import onnx

from .onnx_graph import constants
from .onnx_graph import readers as graph_readers

GELU_OPSET = 20  # the first opset with a Gelu operator


def fuse_gelu(model: onnx.ModelProto) -> int:
    """Replace every erf-form GELU by `Gelu` (raising the default-domain opset to GELU_OPSET if needed);
    returns how many. Nodes whose intermediate results are read elsewhere are left alone."""
    graph = model.graph
    consts = constants(graph)
    producer = {out: n for n in graph.node for out in n.output}
    readers = graph_readers(graph.node)
    outputs = {o.name for o in graph.output}

    def only_reader(name: str) -> onnx.NodeProto | None:
        found = readers.get(name, [])
        return found[0] if len(found) == 1 and name not in outputs else None

    def other(node: onnx.NodeProto, name: str) -> str:
        return node.input[1] if node.input[0] == name else node.input[0]

    def is_const(name: str, value: float) -> bool:
        c = consts.get(name)
        return c is not None and c.size == 1 and abs(float(c.reshape(())) - value) < 1e-4 * max(1.0, abs(value))

    dropped, replaced = set(), {}
    for div in graph.node:
        if div.op_type != "Div" or not is_const(div.input[1], math.sqrt(2.0)):
            continue
        x = div.input[0]
        erf = only_reader(div.output[0])
        add = erf and erf.op_type == "Erf" and only_reader(erf.output[0])
        if not (add and add.op_type == "Add" and is_const(other(add, erf.output[0]), 1.0)):
            continue
        mul = only_reader(add.output[0])
        if not (mul and mul.op_type == "Mul"):
            continue
        chain = [div, erf, add, mul]
        if other(mul, add.output[0]) == x:  # x · (1 + erf) · 0.5
            last = only_reader(mul.output[0])
            if not (last and last.op_type == "Mul" and is_const(other(last, mul.output[0]), 0.5)):
                continue
            chain.append(last)
        else:  # (x · 0.5) · (1 + erf)
            half = producer.get(other(mul, add.output[0]))
            if not (half and half.op_type == "Mul" and x in half.input and is_const(other(half, x), 0.5)):
                continue
            if only_reader(half.output[0]) is not mul:
                continue
            chain.append(half)
            last = mul
        if readers.get(x) and len([r for r in readers[x] if r not in chain]) == len(readers[x]) - 2:
            dropped.update(id(n) for n in chain)
            replaced[id(last)] = onnx.helper.make_node("Gelu", [x], [last.output[0]], name=f"{div.name}_gelu")
    if not replaced:
        return 0
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped or id(n) in replaced]
    del graph.node[:]
    graph.node.extend(nodes)
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < GELU_OPSET:
            opset.version = GELU_OPSET
    return len(replaced)
