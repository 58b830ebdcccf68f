"""A readable summary of an export folder: contracts, sizes, parameters, op counts per stage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from runtime.errors import InputError
from runtime.manifest import stage_files


def onnx_summary(path: Path) -> tuple[int, Counter]:
    """(parameter count, op counts) of an ONNX file."""
    import numpy as np
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and others
        raise InputError(f"{path}: cannot read it as ONNX ({type(exc).__name__}); export again") from None
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    return params, Counter(n.op_type for n in model.graph.node)


def coreml_summary(path: Path) -> tuple[int | None, Counter]:
    """(None, MIL op counts, nested blocks included) of an .mlpackage (parameters are not itemized in the spec)."""
    from .to_coreml import op_types

    try:
        return None, Counter(op_types(path))
    except Exception as exc:  # coremltools raises several types for a damaged package
        raise InputError(f"{path}: cannot read it as a Core ML package ({type(exc).__name__}); export again") from None


def describe(folder: Path, manifest: dict) -> str:
    lines = [
        f"export {folder}  (toolkit {manifest['toolkit']['version']}, {manifest['model']['family']}, "
        f"image {manifest['preprocessing']['image_size']}²)",
        f"weights: {manifest['weights']}",
    ]
    for fmt, section in manifest["formats"].items():
        caps = ", ".join(f"{k}={v if v is not None else 'any'}" for k, v in section["capacities"].items())
        attention = f"; attention {section['attention']}" if "attention" in section else ""
        lines.append(f"\n{fmt} ({section['precision']}; capacities {caps}{attention})")
        for stage, entry, path in stage_files(section, folder):  # inside the folder, with the recorded sha256
            params, ops = onnx_summary(path) if fmt == "onnx" else coreml_summary(path)
            top = ", ".join(f"{op}×{n}" for op, n in ops.most_common(6))
            count = f"{params / 1e6:.2f} M params, " if params is not None else ""
            lines.append(f"  {stage:<17} {entry['bytes'] / 1e6:7.1f} MB  {count}{sum(ops.values())} ops ({top})")
            lines.append(f"      op types ({len(ops)}): " + ", ".join(f"{op}×{n}" for op, n in sorted(ops.items())))
            for kind in ("inputs", "outputs"):
                for t in entry[kind]:
                    lines.append(f"      {kind[:-1]:<6} {t['name']:<20} {t['dtype']:<8} {t['shape']}")
    return "\n".join(lines)
