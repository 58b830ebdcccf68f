"""The mlprogram backend: the exported Core ML packages run by this toolkit's numpy ML Program interpreter
(`runtime.mlprogram`), on any platform.

It reads the export folder's `coreml` section exactly as the `coreml` backend does and shares its
contract, input checks and batch chunking (`packages.PackageContract`), so a driver sees the same
backend; only the engine differs. float16 programs store float16 tensors after every op, as Core ML
does; what the Neural Engine's own arithmetic adds is not modelled (see `runtime.mlprogram.program`).
coremltools is needed to read the packages (and imports torch when installed); the numerics are numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..manifest import format_section, load_manifest, stage_files
from .packages import PackageContract


class MLProgramBackend:
    name = "mlprogram"

    def __init__(
        self,
        folder: Path,
        manifest: dict,
        stages: Sequence[str] | None = None,
        storage: str = "program",
        verify_files: bool = True,  # check each package's sha256 against the manifest before reading it
    ) -> None:
        try:
            import coremltools as ct
        except ImportError as exc:
            raise InputError("the mlprogram backend reads packages with coremltools: pip install coremltools") from exc
        from ..mlprogram import Program

        section = format_section(manifest, "coreml", folder)
        self.config = manifest["model"]["config"]
        self.capacities: dict[str, int | None] = {k: v for k, v in section["capacities"].items() if k != "B"}
        self.weights = manifest["weights"]
        self.precision = section.get("precision")
        self.storage = storage
        self.programs: dict[str, Program] = {}
        self.contracts: dict[str, PackageContract] = {}
        for stage, entry, path in stage_files(section, folder, stages, check_sha256=verify_files):
            spec = ct.utils.load_spec(str(path))
            self.contracts[stage] = PackageContract.from_spec(stage, spec, entry)
            self.programs[stage] = Program(path, stage)

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        stages: Sequence[str] | None = None,
        storage: str = "program",
        verify_files: bool = True,
    ) -> MLProgramBackend:
        """Programs for every Core ML stage of the export, or only for `stages`. storage "float32" keeps
        every tensor in float32 (to measure what float16 storage costs); `verify_files=False` skips the
        sha256 check of the packages."""
        folder = Path(folder)
        return cls(folder, load_manifest(folder), stages, storage, verify_files)

    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        program = self.programs[stage]
        return self.contracts[stage].run_chunked(lambda feed: program.run(feed, storage=self.storage), inputs)
