"""Backends run the exported stages; the driver talks to all of them through `Backend.run`.

`load_backend` imports a backend's module only when it is chosen, so `import runtime` never imports
torch, onnxruntime or coremltools. `coreml` runs the Core ML packages with Core ML (macOS); `mlprogram` runs
the same packages with the toolkit's numpy ML Program interpreter, anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

BACKENDS = ("torch", "onnx", "coreml", "mlprogram")


class Backend(Protocol):
    """A set of stage graphs for one model.

    config: the model config (EdgeTamConfig fields). capacities: fixed slot counts per capacity axis
    ("K" conditioning memories, "N" object pointers, "P" points), None where any length works.
    weights: provenance of the weights.
    """

    name: str
    config: dict
    capacities: dict[str, int | None]
    weights: dict

    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def load_backend(path: str | Path, backend: str = "torch", verify_files: bool = True) -> Backend:
    """A backend over a checkpoint (torch) or an export folder; `verify_files=False` skips checking the
    export's model files against the sha256 its manifest records (a checkpoint has no manifest)."""
    if backend == "torch":
        from .torch import TorchBackend

        return TorchBackend.from_checkpoint(path)
    if backend == "onnx":
        from .onnx import OnnxBackend

        return OnnxBackend.from_folder(path, verify_files=verify_files)
    if backend == "coreml":
        from .coreml import CoreMLBackend

        return CoreMLBackend.from_folder(path, verify_files=verify_files)
    if backend == "mlprogram":
        from .mlprogram import MLProgramBackend

        return MLProgramBackend.from_folder(path, verify_files=verify_files)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
