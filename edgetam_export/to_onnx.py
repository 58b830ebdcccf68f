"""ONNX exporter: one file per stage, opset 18, object batch and capacity axes dynamic.

Each file is traced from the torch stage, constant-folded, stripped of dead nodes, checked with
`onnx.checker` and carries its stage contract in `metadata_props`. The same weights give the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import torch
from torch import nn

from runtime.contract import CAPACITY_AXES, Stage, contract

OPSET = 18
DYNAMIC = ("B", *CAPACITY_AXES)


def dynamic_axes(stage: Stage, dynamic: tuple[str, ...] = DYNAMIC) -> dict[str, dict[int, str]]:
    axes = {}
    for spec in (*stage.inputs, *stage.outputs):
        dims = {i: d for i, d in enumerate(spec.shape) if isinstance(d, str) and d in dynamic}
        if dims:
            axes[spec.name] = dims
    return axes


def remove_dead_nodes(graph: onnx.GraphProto) -> int:
    """Drop nodes none of whose outputs reach a graph output; returns how many were removed."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            keep.append(node)
            needed.update(node.input)
    removed = len(graph.node) - len(keep)
    if removed:
        del graph.node[:]
        graph.node.extend(reversed(keep))
        used = {i for n in graph.node for i in n.input}
        kept_inits = [t for t in graph.initializer if t.name in used or t.name in {o.name for o in graph.output}]
        del graph.initializer[:]
        graph.initializer.extend(kept_inits)
    return removed


def export_onnx(
    module: nn.Module, stage: Stage, example: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]
) -> None:
    """Trace `module` with `example` inputs and write `path`."""
    args = tuple(example[name] for name in stage.input_names)
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=stage.input_names,
            output_names=stage.output_names,
            dynamic_axes=dynamic_axes(stage),
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load(str(path))
    remove_dead_nodes(model.graph)
    model.producer_name = "edgetam-export"
    del model.metadata_props[:]
    for key, value in sorted(metadata.items()):
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def contract_metadata(stage: Stage, sizes: dict[str, int]) -> str:
    """The stage contract as stored in metadata_props (JSON)."""
    return json.dumps(contract(stage, sizes))
