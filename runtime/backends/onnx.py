"""The onnx backend: onnxruntime on the CPU, one session per stage, read from an export folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..manifest import format_section, load_manifest, stage_files


def session_options(threads: int | None = None):
    """The options every stage session runs with (the benchmark's GEMM probe uses them too)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: fp16 graphs log harmless constant-folding notes
    # Stages run one after another, each with its own pool: threads left spinning after one stage steal
    # the cores from the next (at 256², a tracked frame took 2× longer with spinning on).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxBackend:
    name = "onnx"

    def __init__(
        self,
        folder: Path,
        manifest: dict,
        threads: int | None = None,
        stages: Sequence[str] | None = None,
        options=None,  # onnxruntime.SessionOptions; default session_options(threads)
    ) -> None:
        import onnxruntime as ort

        section = format_section(manifest, "onnx", folder)
        self.config = manifest["model"]["config"]
        self.capacities = {k: v for k, v in section["capacities"].items() if k != "B"}
        self.weights = manifest["weights"]
        options = options or session_options(threads)
        if section.get("precision") == "int8" and section.get("int8_image_encoder") != "static":
            # int8-stored weights (DequantizeLinear on a constant) are folded to float32 once, at load; the
            # default keeps them as QDQ units for integer kernels, and dequantizes them on every run.
            options.add_session_config_entry("session.disable_quant_qdq", "1")
        self.sessions = {}
        for stage, _, path in stage_files(section, folder, stages):
            self.sessions[stage] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def from_folder(
        cls, folder: str | Path, threads: int | None = None, stages: Sequence[str] | None = None, options=None
    ) -> OnnxBackend:
        """Sessions for every stage of the export, or only for `stages` (`options`: e.g. with profiling on)."""
        folder = Path(folder)
        return cls(folder, load_manifest(folder), threads, stages, options)

    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self.sessions[stage]
        feed = {
            i.name: np.ascontiguousarray(
                inputs[i.name], dtype=np.float16 if i.type == "tensor(float16)" else np.float32
            )
            for i in session.get_inputs()
        }
        names = [o.name for o in session.get_outputs()]
        outputs = session.run(names, feed)
        return {n: o.astype(np.float32, copy=False) for n, o in zip(names, outputs, strict=True)}
