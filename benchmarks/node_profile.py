"""Where a stage's time goes: onnxruntime's own node times, summed per op type.

The roofline counts FLOPs, so ops that carry none (elementwise activations, normalizations, layout
reorders and transposes) show up only as distance from it. These are bound by memory traffic instead, and
the profile says how much of each stage they take: the part of the gap that a faster matrix product could
not close.
"""

from __future__ import annotations

import collections
import json
import tempfile
from pathlib import Path

import numpy as np

# Op types whose work the FLOP count covers (onnxruntime's fused and NCHWc variants report these names).
COUNTED_OPS = frozenset(
    {"Conv", "FusedConv", "ConvTranspose", "MatMul", "FusedMatMul", "Gemm", "FusedGemm", "MultiHeadAttention"}
)


def onnx_op_times(
    folder: str | Path, stage: str, inputs: dict[str, np.ndarray], threads: int | None, runs: int = 3
) -> dict[str, float]:
    """Milliseconds per run spent in each op type of one stage (one profiled warm-up run left out)."""
    from runtime.backends.onnx import OnnxBackend, session_options

    with tempfile.TemporaryDirectory() as tmp:
        options = session_options(threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / stage)
        backend = OnnxBackend.from_folder(folder, threads, [stage], options)  # feeds converted as the runtime does
        for _ in range(runs + 1):
            backend.run(stage, inputs)
        events = json.loads(Path(backend.sessions[stage].end_profiling()).read_text())
    run_ends = sorted(e["ts"] + e["dur"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    after_warmup = run_ends[0] if len(run_ends) > runs else 0
    totals: dict[str, float] = collections.defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= after_warmup:
            totals[e["args"]["op_name"]] += e["dur"] / 1e3 / runs
    return {op: round(ms, 3) for op, ms in sorted(totals.items(), key=lambda item: -item[1])}


def split_counted(op_ms: dict[str, float]) -> tuple[float, float]:
    """(ms in ops the FLOP count covers, ms in all other ops)."""
    counted = sum(ms for op, ms in op_ms.items() if op in COUNTED_OPS)
    return counted, sum(op_ms.values()) - counted
