"""The coreml backend: the exported ML Programs run by Core ML (macOS only), one model per stage.

Core ML fixes every axis but the object batch: the capacity axes (K conditioning memories, N object
pointers, P points) are the export's capacities, which the driver pads to. A stage exported with a
flexible batch takes up to `max_objects` objects per call; a stage whose batch is fixed at 1 (see
`edgetam_export.to_coreml`) is called once per object and the results are stacked, so the driver sees
the same contract either way. coremltools is imported only when the backend is built; torch never.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..manifest import format_section, load_manifest, stage_files

COMPUTE_UNITS = ("ALL", "CPU_AND_NE", "CPU_AND_GPU", "CPU_ONLY")


class CoreMLUnavailableError(InputError):
    """Core ML models can be executed only on macOS (coremltools converts them anywhere)."""


def require_macos(platform: str | None = None) -> None:
    platform = platform or sys.platform
    if platform != "darwin":
        raise CoreMLUnavailableError(
            f"the coreml backend executes Core ML models, which needs macOS (this is {platform}); "
            "use --backend onnx here, or copy the export folder to a Mac"
        )


class CoreMLBackend:
    name = "coreml"

    def __init__(
        self,
        folder: Path,
        manifest: dict,
        compute_units: str = "ALL",
        stages: Sequence[str] | None = None,
        verify_files: bool = True,
    ) -> None:
        require_macos()
        try:
            import coremltools as ct
        except ImportError as exc:
            raise CoreMLUnavailableError("the coreml backend needs coremltools: pip install coremltools") from exc
        if compute_units not in COMPUTE_UNITS:
            raise InputError(f"unknown compute units {compute_units!r}; choose one of {', '.join(COMPUTE_UNITS)}")

        section = format_section(manifest, "coreml", folder)
        self.config = manifest["model"]["config"]
        self.capacities: dict[str, int | None] = {k: v for k, v in section["capacities"].items() if k != "B"}
        self.weights = manifest["weights"]
        self.compute_units = compute_units
        self.models = {}
        self.max_batch: dict[str, int] = {}  # objects per call, per stage
        self.inputs: dict[str, list[str]] = {}
        self.batched: dict[str, set[str]] = {}  # inputs whose first axis is the object batch
        self.outputs: dict[str, list[str]] = {}
        for stage, entry, path in stage_files(section, folder, stages, check_sha256=verify_files):
            model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units))
            spec = model.get_spec()
            batch = json.loads(spec.description.metadata.userDefined.get("edgetam.batch", "{}") or "{}")
            self.models[stage] = model
            self.max_batch[stage] = int(batch.get("max", 1))
            self.inputs[stage] = [f.name for f in spec.description.input]
            self.outputs[stage] = [f.name for f in spec.description.output]
            self.batched[stage] = {i["name"] for i in entry["inputs"] if i["shape"] and i["shape"][0] == "B"}

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        compute_units: str = "ALL",
        stages: Sequence[str] | None = None,
        verify_files: bool = True,
    ) -> CoreMLBackend:
        """Models for every stage of the export, or only for `stages`, on the given compute units
        (`verify_files=False` skips the sha256 check of the packages)."""
        require_macos()
        folder = Path(folder)
        return cls(folder, load_manifest(folder), compute_units, stages, verify_files)

    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        model = self.models[stage]
        feed = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in self.inputs[stage]}
        batched = [name for name in self.inputs[stage] if name in self.batched[stage]]
        total = feed[batched[0]].shape[0] if batched else 1
        step = max(1, self.max_batch[stage])
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.outputs[stage]}
        for start in range(0, total, step):
            chunk = {
                name: value[start : start + step] if name in self.batched[stage] else value
                for name, value in feed.items()
            }
            result = model.predict(chunk)
            for name in self.outputs[stage]:
                parts[name].append(np.asarray(result[name], dtype=np.float32))
        return {name: arrays[0] if len(arrays) == 1 else np.concatenate(arrays) for name, arrays in parts.items()}
