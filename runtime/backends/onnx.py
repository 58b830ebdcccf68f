"""The onnx backend: onnxruntime on the CPU, one session per stage, read from an export folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..manifest import STATIC_QDQ_METHOD, format_section, load_manifest, stage_files


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
        verify_files: bool = True,  # check each file's sha256 against the manifest before parsing it
    ) -> None:
        section = format_section(manifest, "onnx", folder)
        self.config = manifest["model"]["config"]
        self.capacities = {k: v for k, v in section["capacities"].items() if k != "B"}
        self.weights = manifest["weights"]
        options = options or session_options(threads)
        files = list(stage_files(section, folder, stages, check_sha256=verify_files))
        opened = {}
        # A static int8 graph needs onnxruntime's QDQ fusion (its integer convolutions): open it first, with
        # the options as they are; options are read when a session is created.
        for stage, entry, path in files:
            if entry.get("quantization", {}).get("method") == STATIC_QDQ_METHOD:
                opened[stage] = open_stage(path, entry, options)
        if section.get("precision") == "int8":
            # int8-stored weights (DequantizeLinear on a constant) are folded to float32 once, at load; the
            # default keeps them as QDQ units for integer kernels, and dequantizes them on every run.
            options.add_session_config_entry("session.disable_quant_qdq", "1")
        for stage, entry, path in files:
            if stage not in opened:
                opened[stage] = open_stage(path, entry, options)
        self.sessions = {stage: opened[stage] for stage, _, _ in files}  # in the stages' order

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        threads: int | None = None,
        stages: Sequence[str] | None = None,
        options=None,
        verify_files: bool = True,
    ) -> OnnxBackend:
        """Sessions for every stage of the export, or only for `stages` (`options`: e.g. with profiling on;
        `verify_files=False` skips the sha256 check of the model files)."""
        folder = Path(folder)
        return cls(folder, load_manifest(folder), threads, stages, options, verify_files)

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


def open_stage(path: Path, entry: dict, options):
    """An onnxruntime session for one stage file, whose inputs must be the manifest's; a file onnxruntime
    cannot parse, or the graph of another stage or model size, is refused naming the file."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: onnxruntime cannot load it ({reason}); the file is damaged: export again") from None
    graph = {i.name: list(i.shape) for i in session.get_inputs()}
    for spec in entry["inputs"]:
        shape = graph.get(spec["name"])
        fixed = [(a, b) for a, b in zip(shape or [], spec["shape"]) if isinstance(a, int) and isinstance(b, int)]
        if shape is None or len(shape) != len(spec["shape"]) or any(a != b for a, b in fixed):
            raise InputError(
                f"{path}: its input {spec['name']!r} is {shape}, but the manifest records {spec['shape']}; "
                "the file belongs to another stage or export: export again"
            )
    return session
