"""The Core ML harness: the same measurements through coremltools on a Mac, once per compute-unit setting.

Core ML executes only on macOS; elsewhere `check_platform` refuses with the reason before anything runs.
The roofline's GEMM rate is measured through Core ML too, with the same compute units, as a one-op fp32
(CPU_ONLY) or fp16 (any accelerator) ML Program, so every ratio stays within one runtime.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

from runtime.backends.coreml import COMPUTE_UNITS, require_macos

from .timing import GEMM_SIZE, repeat

# The order a Mac report lists them in: the CPU baseline first, everything last.
SETTINGS = ("CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL")
assert set(SETTINGS) == set(COMPUTE_UNITS)


def check_platform(platform: str | None = None) -> None:
    """Raise CoreMLUnavailableError off macOS (the message says to use --backend onnx or a Mac)."""
    require_macos(platform)


def coreml_gemm_rate(compute_units: str, warmup: int = 3, runs: int = 10) -> float:
    """GFLOP/s of one 2048³ matmul as a Core ML program on `compute_units`."""
    require_macos()
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    n = GEMM_SIZE
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((n, n)).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(n, n))], opset_version=ct.target.iOS17)
    def gemm(a):
        return mb.matmul(x=a, y=weight, name="c")

    precision = ct.precision.FLOAT32 if compute_units == "CPU_ONLY" else ct.precision.FLOAT16
    model = ct.convert(
        gemm,
        convert_to="mlprogram",
        compute_precision=precision,
        compute_units=getattr(ct.ComputeUnit, compute_units),
        minimum_deployment_target=ct.target.iOS17,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gemm.mlpackage"
        model.save(str(path))
        loaded = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units))
        feed = {"a": rng.standard_normal((n, n)).astype(np.float32)}
        times = repeat(lambda: loaded.predict(feed), warmup, runs)
    return 2 * n**3 / statistics.median(times) / 1e9
