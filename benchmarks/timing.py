"""Timing primitives: summaries of repeated runs, peak memory, the GEMM rate, and one stage timed alone.

Each stage is timed in a fresh process that loads only that stage, so its peak resident memory is what
an app running that one graph would see (interpreter and runtime included), not the high-water mark of
everything the benchmark did before. Nothing here imports torch.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GEMM_SIZE = 2048  # the roofline's GEMM: fp32 2048×2048 @ 2048×2048 through the benchmarked runtime


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """median, p90 and min in milliseconds. The median of an even count is the mean of the middle two; p90 is
    interpolated linearly between the two closest ranks (numpy's default). The Swift benchmark computes both
    the same way (ios_demo/Sources/EdgeTAMKit/Benchmark/Statistics.swift)."""
    ms = [s * 1e3 for s in seconds]
    return {
        "median_ms": statistics.median(ms),
        "p90_ms": float(np.percentile(ms, 90)),
        "min_ms": min(ms),
        "runs": len(ms),
    }


def repeat(fn: Callable[[], object], warmup: int, runs: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def peak_rss_mb() -> float:
    """This process's peak resident set. Linux: VmHWM, because ru_maxrss survives exec and would report a
    spawned child's parent; elsewhere ru_maxrss (bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def onnx_gemm_rate(threads: int | None, warmup: int = 3, runs: int = 10) -> float:
    """GFLOP/s of one fp32 MatMul node in onnxruntime, with the backend's own session options."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from runtime.backends.onnx import session_options

    n = GEMM_SIZE
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        [numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), session_options(threads), ["CPUExecutionProvider"])
    feed = {"a": rng.standard_normal((n, n), dtype=np.float32)}
    times = repeat(lambda: session.run(None, feed), warmup, runs)
    return 2 * n**3 / statistics.median(times) / 1e9


def numpy_gemm_rate(warmup: int = 3, runs: int = 10, n: int = GEMM_SIZE) -> float:
    """GFLOP/s of one fp32 n³ numpy matmul (the mlprogram interpreter's engine)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    times = repeat(lambda: a @ a, warmup, runs)
    return 2 * n**3 / statistics.median(times) / 1e9


@dataclass(frozen=True)
class StageJob:
    backend: str  # "onnx", "coreml" or "mlprogram"
    folder: str
    stage: str
    sizes: dict[str, int]  # every symbol of the stage's shapes, resolved
    warmup: int
    runs: int
    threads: int | None = None
    compute_units: str | None = None


def open_backend(backend: str, folder: str | Path, stages=None, threads=None, compute_units=None):
    """An export folder's backend by name, restricted to `stages` if given."""
    if backend == "onnx":
        from runtime.backends.onnx import OnnxBackend

        return OnnxBackend.from_folder(folder, threads=threads, stages=stages)
    if backend == "coreml":
        from runtime.backends.coreml import CoreMLBackend

        return CoreMLBackend.from_folder(folder, compute_units=compute_units or "ALL", stages=stages)
    if backend == "mlprogram":
        from runtime.backends.mlprogram import MLProgramBackend

        return MLProgramBackend.from_folder(folder, stages=stages)
    raise ValueError(f"the benchmark times export folders through onnx, coreml or mlprogram, not {backend!r}")


def _time_stage(job: StageJob) -> dict:
    from edgetam_export.examples import example_arrays

    before = peak_rss_mb()
    start = time.perf_counter()
    backend = open_backend(job.backend, job.folder, [job.stage], job.threads, job.compute_units)
    load_ms = (time.perf_counter() - start) * 1e3
    inputs = example_arrays(job.stage, job.sizes, seed=1, all_valid=True)
    times = repeat(lambda: backend.run(job.stage, inputs), job.warmup, job.runs)
    result = {**summary_ms(times), "load_ms": load_ms, "peak_rss_mb": peak_rss_mb(), "rss_before_load_mb": before}
    if job.backend == "onnx":  # after the peak is read: the profiled session is a second copy of the graph
        from .node_profile import onnx_op_times

        result["op_ms"] = onnx_op_times(job.folder, job.stage, inputs, job.threads)
    return result


def gemm_rate(backend: str, threads: int | None, compute_units: str | None, runs: int = 10) -> float:
    """GFLOP/s of the roofline's GEMM through the benchmarked runtime."""
    if backend == "coreml":
        from .coreml import coreml_gemm_rate

        return coreml_gemm_rate(compute_units or "ALL", warmup=2, runs=runs)
    if backend == "mlprogram":  # the interpreter's products are numpy matmuls
        return numpy_gemm_rate(warmup=2, runs=runs)
    return onnx_gemm_rate(threads, warmup=2, runs=runs)


def time_stage(job: StageJob) -> dict:
    """Median/p90 latency and peak RSS of one stage, measured in a fresh process, with the GEMM rate
    measured just before and after it (in this process, so the child's peak memory stays its own): on a
    shared machine the rate drifts by 2× within minutes, so each roofline uses the rate of its moment."""
    before = gemm_rate(job.backend, job.threads, job.compute_units, runs=5)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result = pool.apply(_time_stage, (job,))
    after = gemm_rate(job.backend, job.threads, job.compute_units, runs=5)
    return {**result, "gemm_gflop_per_s": (before + after) / 2}
