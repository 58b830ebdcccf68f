"""The bench.json schema: one report format for every device (Linux/ONNX, Mac and iPhone/Core ML).

`edgetam-export bench` (Python) and `edgetam-bench` / the demo app (Swift, `ios_demo/.../Benchmark`) write it;
`edgetam-export bench-render` renders any number of them side by side. `FIELDS` is the schema: each field's
path, allowed types, whether it is required, and what it means (benchmarks/README.md shows the same table,
and a test keeps the two equal). What both kinds of run measure is required; what only the Python run
measures (FLOPs, the roofline, the GEMM probe, node profiles, baselines, targets) is optional.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 2
NUM = (int, float)
NULL = type(None)
COMPUTE_UNITS = ("CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL")  # Core ML's settings, named as coremltools does
MEMORY_SCOPES = ("stage process", "benchmark process")


@dataclass(frozen=True)
class Field:
    path: str  # "a.b" for nested objects, "list[].key" for every item of a list
    types: tuple[type, ...]
    required: bool
    meaning: str


def _f(path: str, types: type | tuple, meaning: str, required: bool = True) -> Field:
    return Field(path, types if isinstance(types, tuple) else (types,), required, meaning)


FIELDS: tuple[Field, ...] = (
    _f("format_version", int, f"{FORMAT_VERSION}"),
    _f("created", str, "when the run ended, ISO 8601 UTC"),
    _f("tool", dict, "what measured"),
    _f("tool.name", str, '"edgetam-export bench" (Python) or "edgetam-bench" (Swift: command line or app)'),
    _f("tool.version", str, "its version", required=False),
    _f("device", dict, "what it ran on"),
    _f("device.kind", str, '"linux", "mac", "iphone", "ipad", ...'),
    _f("device.model", str, 'hardware model: "iPhone16,2", "Mac14,3" (sysctl hw.machine / hw.model), DMI product name'),
    _f("device.chip", str, 'processor: "Apple A17 Pro", "Apple M2", a CPU brand string'),
    _f("device.os", str, "operating system and version"),
    _f("device.cores", int, "CPU cores"),
    _f("device.memory_gb", (*NUM, NULL), "physical memory", required=False),
    _f("device.compute_units", list, 'what the device offers: "CPU", "GPU", "Neural Engine"'),
    _f("device.cpu_features", list, "x86 vector extensions (Python runs)", required=False),
    _f("device.python", str, "Python version (Python runs)", required=False),
    _f("device.packages", dict, "versions of what ran (Python runs)", required=False),
    _f("device.swift", str, "Swift compiler version (Swift runs)", required=False),
    _f("setting", dict, "what was measured, how"),
    _f("setting.backend", str, '"onnx" or "coreml"'),
    _f("setting.compute_units", (str, NULL), f"Core ML: one of {', '.join(COMPUTE_UNITS)}; null for ONNX (CPU)"),
    _f("setting.precision", str, '"fp32" or "fp16"'),
    _f("setting.image_size", int, "model input side (1024 for EdgeTAM)"),
    _f("setting.warmup", int, "untimed runs before each timing"),
    _f("setting.runs", int, "timed runs per stage"),
    _f("setting.tracked_frames", int, "tracked frames timed per object count"),
    _f("setting.objects", list, "object counts of the tracked-frame rows, e.g. [1, 2, 4]"),
    _f("setting.memory_scope", str, f"what peak_rss_mb covers: one of {', '.join(repr(s) for s in MEMORY_SCOPES)}"),
    _f("setting.export", str, "the export folder measured", required=False),
    _f("setting.threads", int, "CPU threads (ONNX)", required=False),
    _f("setting.attention", str, "ONNX: onnxruntime's fused attention or standard ops", required=False),
    _f("setting.clip", dict, "the generated clip's height, width, frames", required=False),
    _f("setting.weights", dict, "the export's weights provenance", required=False),
    _f("stages", list, "one row per stage timed alone"),
    _f("stages[].stage", str, "image_encoder, memory_attention, mask_decoder, memory_encoder, mask_prompt"),
    _f("stages[].batch", int, "objects per call"),
    _f("stages[].median_ms", NUM, "median latency of setting.runs runs after setting.warmup"),
    _f("stages[].p90_ms", NUM, "90th percentile (linear interpolation)"),
    _f("stages[].runs", int, "timed runs"),
    _f("stages[].load_ms", NUM, "model load (and, for Core ML, compile) time"),
    _f("stages[].peak_rss_mb", NUM, "peak resident memory after the stage's runs (see setting.memory_scope)"),
    _f("stages[].min_ms", NUM, "fastest run", required=False),
    _f("stages[].sizes", dict, "the capacities the stage was called with (B, K, N, P)", required=False),
    _f("stages[].gflop", (*NUM, NULL), "counted FLOPs of one call", required=False),
    _f("stages[].attention_gflop", (*NUM, NULL), "of which attention products", required=False),
    _f("stages[].params_m", (*NUM, NULL), "parameters, millions", required=False),
    _f("stages[].file_mb", (*NUM, NULL), "model file size", required=False),
    _f("stages[].roofline_ms", (*NUM, NULL), "gflop ÷ the GEMM rate measured around it", required=False),
    _f("stages[].vs_roofline", (*NUM, NULL), "median ÷ roofline", required=False),
    _f("stages[].gemm_gflop_per_s", (*NUM, NULL), "the GEMM rate measured around it", required=False),
    _f("stages[].rss_before_load_mb", (*NUM, NULL), "resident memory before the model loaded", required=False),
    _f("stages[].op_ms", (dict, NULL), "onnxruntime node time per op type", required=False),
    _f("frames", list, "one row per object count: a tracked frame through the stages"),
    _f("frames[].objects", int, "objects tracked"),
    _f("frames[].first_frame_ms", NUM, "the first (prompted) frame, through its first result"),
    _f("frames[].median_ms", NUM, "median tracked frame"),
    _f("frames[].p90_ms", NUM, "90th percentile tracked frame"),
    _f("frames[].runs", int, "tracked frames timed"),
    _f(
        "frames[].calls",
        dict,
        'stage calls of one tracked frame and their batches, e.g. {"image_encoder": [1]}',
        required=False,
    ),
    _f("frames[].calls_same_every_frame", bool, "whether every tracked frame made the same calls", required=False),
    _f("frames[].gflop", (*NUM, NULL), "counted FLOPs of one tracked frame", required=False),
    _f("frames[].roofline_ms", (*NUM, NULL), "gflop ÷ the GEMM rate", required=False),
    _f("frames[].vs_roofline", (*NUM, NULL), "median ÷ roofline", required=False),
    _f("frames[].gemm_gflop_per_s", (*NUM, NULL), "the GEMM rate measured around it", required=False),
    _f("frames[].bound_ms", (*NUM, NULL), "the 1-object frame + (n − 1) × the per-object stages", required=False),
    _f("gemm", dict, "the roofline's GEMM probe (m, k, n, gflop_per_s, min/max, probes)", required=False),
    _f("baselines", list, "transformers eager and the original code on the same clip", required=False),
    _f("targets", list, "the benchmarks issue's targets, judged (target, value, limit, met)", required=False),
)


class ReportError(ValueError):
    """A file that is not a benchmark report of this schema; the message names every problem."""


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", dict: "an object", list: "a list", bool: "true/false", NULL: "null"}
    wanted = ["a number" if float in types else names[int]] if int in types else []
    wanted += [names[t] for t in types if t not in (int, float)]
    return " or ".join(wanted)


def _fits(value: object, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:  # JSON true is not a number
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, types)


def _values(report: object, path: str) -> list[tuple[str, bool, object]]:
    """(concrete path, present, value) for every place `path` points at (one per list item for "x[].y")."""
    places: list[tuple[str, object]] = [("", report)]
    parts = path.split(".")
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        key, each = (part[:-2], True) if part.endswith("[]") else (part, False)
        nxt = []
        for where, node in places:
            name = f"{where}.{key}" if where else key
            if not isinstance(node, dict):
                continue
            if key not in node:
                if last:
                    out.append((name, False, None))
                continue
            value = node[key]
            if each and not last:
                if isinstance(value, list):
                    nxt.extend((f"{name}[{j}]", item) for j, item in enumerate(value))
            elif last:
                out.append((name, True, value))
            else:
                nxt.append((name, value))
        places = nxt
    return out


def validate(report: object) -> list[str]:
    """Every way `report` departs from the schema, as "path: problem" (empty when it is a valid report)."""
    return structure_problems(report) or value_problems(report)


def structure_problems(report: object) -> list[str]:
    """The version, and every field missing or of the wrong type."""
    if not isinstance(report, dict):
        return [f"the report is {type(report).__name__}, not a JSON object"]
    version = report.get("format_version")
    if version != FORMAT_VERSION:
        hint = "; run the benchmark again with this toolkit" if isinstance(version, int) and version < 2 else ""
        return [f"format_version: {version!r}, this toolkit reads version {FORMAT_VERSION}{hint}"]
    problems = []
    for field in FIELDS:
        for where, present, value in _values(report, field.path):
            if not present:
                if field.required:
                    problems.append(f"{where}: missing ({field.meaning})")
            elif not _fits(value, field.types):
                problems.append(f"{where}: expected {_type_names(field.types)}, got {json.dumps(value)[:60]}")
    return problems


def value_problems(report: dict) -> list[str]:
    """Values the types alone do not pin down: enums, signs, ordering, rows matching the settings (call on a
    report without structure problems)."""
    problems = []
    s = report["setting"]
    if s["compute_units"] is not None and s["compute_units"] not in COMPUTE_UNITS:
        problems.append(f"setting.compute_units: {s['compute_units']!r}, not one of {', '.join(COMPUTE_UNITS)} or null")
    if s["memory_scope"] not in MEMORY_SCOPES:
        problems.append(f"setting.memory_scope: {s['memory_scope']!r}, not one of {', '.join(MEMORY_SCOPES)}")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in s["objects"]):
        problems.append(f"setting.objects: {s['objects']!r}, not a list of object counts ≥ 1")
    if not report["stages"]:
        problems.append("stages: empty (no stage was timed)")
    for kind, rows in (("stages", report["stages"]), ("frames", report["frames"])):
        for i, row in enumerate(rows):
            for key, value in row.items():
                if key.endswith("_ms") and isinstance(value, NUM) and value < 0:
                    problems.append(f"{kind}[{i}].{key}: {value} is negative")
            if row["p90_ms"] < row["median_ms"]:
                problems.append(f"{kind}[{i}].p90_ms: {row['p90_ms']} is below median_ms {row['median_ms']}")
            if row["runs"] < 1:
                problems.append(f"{kind}[{i}].runs: {row['runs']}, no timed run")
    measured = [f["objects"] for f in report["frames"]]
    if measured != list(s["objects"]):
        problems.append(f"frames: rows for {measured} objects, setting.objects asks for {s['objects']}")
    return problems


def load_report(path: str | Path) -> dict:
    """Read and validate one bench.json; ReportError names the file and every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReportError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON ({exc}); pass a bench.json written by a benchmark") from exc
    problems = validate(report)
    if problems:
        listed = "\n  ".join(problems)
        raise ReportError(f"{path} is not a benchmark report (schema version {FORMAT_VERSION}):\n  {listed}")
    return report
