"""The coreml backend: the exported ML Programs run by Core ML (macOS only), one model per stage.

Core ML fixes every axis but the object batch: the capacity axes (K conditioning memories, N object
pointers, P points) are the export's capacities, which the driver pads to. A stage exported with a
flexible batch takes up to `max_objects` objects per call; a stage whose batch is fixed at 1 (see
`edgetam_export.to_coreml`) is called once per object and the results are stacked, so the driver sees
the same contract either way (`packages.PackageContract`, shared with the `mlprogram` backend, which runs
the same packages anywhere). coremltools is imported only when the backend is built.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..manifest import format_section, load_manifest, stage_files
from .packages import PackageContract

COMPUTE_UNITS = ("ALL", "CPU_AND_NE", "CPU_AND_GPU", "CPU_ONLY")


class CoreMLUnavailableError(InputError):
    """Core ML models can be executed only on macOS (coremltools converts them anywhere)."""


def require_macos(platform: str | None = None) -> None:
    platform = platform or sys.platform
    if platform != "darwin":
        raise CoreMLUnavailableError(
            f"the coreml backend executes Core ML models, which needs macOS (this is {platform}); "
            "use --backend onnx or --backend mlprogram (the same packages, interpreted) here, "
            "or copy the export folder to a Mac"
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
        self.contracts: dict[str, PackageContract] = {}
        for stage, entry, path in stage_files(section, folder, stages, check_sha256=verify_files):
            model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units))
            self.models[stage] = model
            self.contracts[stage] = PackageContract.from_spec(stage, model.get_spec(), entry)

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
        return self.contracts[stage].run_chunked(self.models[stage].predict, inputs)
