"""`edgetam-export bench`: measure an export folder and write bench.json, bench.md and bench.png.

Order of work: FLOPs counted on the reference stages; each stage timed alone in its own process, with the
GEMM rate (the roofline's denominator) measured just before and after; then for each object count this
toolkit's runtime and the baselines on the same clip, advanced one frame in turn, so every ratio compares
frames timed seconds apart on a machine in the same state.
"""

from __future__ import annotations

import datetime
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgetam_export import __version__
from edgetam_export.weights import export_source_model
from runtime.contract import STAGES, model_sizes
from runtime.manifest import format_section, load_manifest

from . import baselines, machine
from .oracles import jpeg_roundtrip
from .report import PER_OBJECT_STAGES, check_report, judge_targets, markdown
from .schema import FORMAT_VERSION
from .timing import GEMM_SIZE, StageJob, gemm_rate, open_backend, time_stage
from .tracking import interleave, summarize, timed_session

CAPACITY_DEFAULTS = {"K": 1, "N": 16, "P": 1}  # a steady tracked frame: one prompted frame, 16 pointers


@dataclass
class BenchSettings:
    folder: Path
    backend: str = "onnx"
    compute_units: str | None = None
    warmup: int = 2
    runs: int = 10
    tracked_frames: int = 8
    objects: tuple[int, ...] = (1, 2, 4)
    baselines: tuple[str, ...] = (baselines.TRANSFORMERS, baselines.ORIGINAL)
    threads: int | None = None
    checkpoint: Path | None = None
    clip_size: tuple[int, int] = (360, 640)  # height, width of the generated clip


def _sizes_of_call(stage: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    sizes = {}
    for spec in STAGES[stage].inputs:
        for axis, symbol in enumerate(spec.shape):
            if symbol in ("B", "K", "N", "P"):
                sizes[symbol] = shapes[spec.name][axis]
    return sizes


def _frame_row(
    result: dict, count: Callable[[str, dict], float], per_object_ms: float, one_object: dict | None, rate: float
) -> dict:
    per_frame = [[(stage, _sizes_of_call(stage, shapes)) for stage, shapes in calls] for calls in result["calls"]]
    flops = [sum(count(stage, sizes) for stage, sizes in frame) for frame in per_frame]
    batches = [{s: [z.get("B", 1) for t, z in frame if t == s] for s, _ in frame} for frame in per_frame]
    gflop = float(np.mean(flops)) / 1e9
    roofline = gflop / rate * 1e3
    n = result["objects"]
    bound = None if one_object is None or n == 1 else one_object["median_ms"] + (n - 1) * per_object_ms
    return {
        "objects": n,
        "first_frame_ms": result["first_frame_ms"],
        "median_ms": result["median_ms"],
        "p90_ms": result["p90_ms"],
        "runs": result["runs"],
        "gflop": gflop,
        "roofline_ms": roofline,
        "vs_roofline": result["median_ms"] / roofline,
        "gemm_gflop_per_s": rate,
        "bound_ms": bound,
        "calls": batches[0],
        "calls_same_every_frame": all(b == batches[0] for b in batches),
    }


def run_benchmark(settings: BenchSettings, say: Callable[[str], None] = print) -> dict:
    """Measure everything; returns the report (see report.check_report for what it holds)."""
    from edgetam_export.clip import synthetic_clip

    from .flops import count_stage, meta_stages

    folder = Path(settings.folder)
    manifest = load_manifest(folder)
    section = format_section(manifest, "coreml" if settings.backend == "mlprogram" else settings.backend, folder)
    config = manifest["model"]["config"]
    capacities = {k: v for k, v in section["capacities"].items() if k != "B"}
    stage_sizes = {"B": 1, **{k: capacities.get(k) or v for k, v in CAPACITY_DEFAULTS.items()}}
    sizes = {**model_sizes(config), **stage_sizes}

    def probe() -> float:
        rates.append(gemm_rate(settings.backend, settings.threads, settings.compute_units, runs=5))
        return rates[-1]

    rates: list[float] = []
    say(
        f"GEMM rate: {probe():.1f} GFLOP/s ({GEMM_SIZE}³ fp32 through {settings.backend}; measured again around "
        "every measurement, whose roofline uses the rate of its moment)"
    )

    meta = meta_stages(config)
    cache: dict = {}

    def count(stage: str, call_sizes: dict) -> float:
        key = (stage, tuple(sorted(call_sizes.items())))
        if key not in cache:
            cache[key] = count_stage(meta, stage, call_sizes)
        return cache[key].flops

    stages = []
    for name, entry in section["stages"].items():
        cost = count_stage(meta, name, stage_sizes)
        job = StageJob(
            settings.backend,
            str(folder),
            name,
            sizes,
            settings.warmup,
            settings.runs,
            settings.threads,
            settings.compute_units,
        )
        timing = time_stage(job)
        rates.append(timing["gemm_gflop_per_s"])
        roofline = cost.flops / 1e9 / timing["gemm_gflop_per_s"] * 1e3
        stages.append(
            {
                "stage": name,
                "batch": 1,
                "sizes": stage_sizes,
                "gflop": cost.flops / 1e9,
                "attention_gflop": cost.attention_flops / 1e9,
                "params_m": cost.params / 1e6,
                "file_mb": entry["bytes"] / 1e6,
                "median_ms": timing["median_ms"],
                "p90_ms": timing["p90_ms"],
                "min_ms": timing["min_ms"],
                "runs": timing["runs"],
                "load_ms": timing["load_ms"],
                "roofline_ms": roofline,
                "vs_roofline": timing["median_ms"] / roofline,
                "peak_rss_mb": timing["peak_rss_mb"],
                "rss_before_load_mb": timing["rss_before_load_mb"],
                "gemm_gflop_per_s": timing["gemm_gflop_per_s"],
                "op_ms": timing.get("op_ms"),  # onnxruntime node time per op type (onnx only)
            }
        )
        say(
            f"  {name:<17} {timing['median_ms']:8.1f} ms median  {cost.flops / 1e9:7.2f} GFLOP  "
            f"{timing['median_ms'] / roofline:5.2f}× roofline  {timing['peak_rss_mb']:6.0f} MB peak"
        )
    per_object_ms = sum(r["median_ms"] for r in stages if r["stage"] in PER_OBJECT_STAGES)

    height, width = settings.clip_size
    clip = synthetic_clip(1 + settings.tracked_frames, height, width)
    runners, states = {}, None
    with tempfile.TemporaryDirectory() as tmp:
        jpegs = Path(tmp) / "clip"
        frames = jpeg_roundtrip(clip, jpegs)  # the original reads JPEGs: every side sees the decoded pixels
        skipped = {}
        for name in settings.baselines:
            reason = baselines.available(name)
            if reason:
                skipped[name] = reason
                continue
            if states is None:
                states = export_source_model(manifest, settings.checkpoint).state_dict()
            runners[name] = baselines.build(name, states, config["image_size"], settings.threads or _cores())

        backend = open_backend(settings.backend, folder, None, settings.threads, settings.compute_units)
        frame_rows, base_rows, one = [], [], None
        for n in settings.objects:
            sessions = {"ours": timed_session(backend, frames, n, settings.warmup)}
            for name, runner in runners.items():
                if name == baselines.TRANSFORMERS:
                    sessions[name] = baselines.transformers_session(*runner, frames, n, settings.warmup)
                else:
                    sessions[name] = baselines.original_session(runner, jpegs, frames, n, settings.warmup)
            before = probe()
            items = interleave(sessions)
            ours = summarize(items.pop("ours"), n)
            row = _frame_row(ours, count, per_object_ms, one, (before + probe()) / 2)
            one = one or (row if n == 1 else None)
            frame_rows.append(row)
            say(
                f"  {n} object(s): first frame {row['first_frame_ms']:.0f} ms, tracked {row['median_ms']:.0f} ms "
                f"median ({row['vs_roofline']:.2f}× roofline)"
            )
            for name in settings.baselines:
                if name in skipped:
                    base_rows.append({"name": name, "objects": n, "status": skipped[name]})
                    continue
                theirs = summarize(items[name], n)
                agreement = baselines.mask_agreement(ours["masks"], theirs["masks"])
                package = "transformers" if name == baselines.TRANSFORMERS else "edgetam-dimos"
                base_rows.append(
                    {
                        "name": name,
                        "objects": n,
                        "status": "measured",
                        "version": machine.versions().get(package),
                        "first_frame_ms": theirs["first_frame_ms"],
                        "median_ms": theirs["median_ms"],
                        "p90_ms": theirs["p90_ms"],
                        "runs": theirs["runs"],
                        "speedup": theirs["median_ms"] / ours["median_ms"],
                        **agreement,
                    }
                )
                say(
                    f"    {name}: tracked {theirs['median_ms']:.0f} ms median, ours ×{base_rows[-1]['speedup']:.2f} "
                    f"faster, min IoU {agreement['min_iou']:.4f}"
                )

    report = {
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": {"name": "edgetam-export bench", "version": __version__},
        "device": machine.describe(),
        "setting": {
            "backend": settings.backend,
            "compute_units": settings.compute_units,
            "export": str(folder),
            "precision": section["precision"],
            "attention": section.get("attention", "standard"),  # ONNX: onnxruntime's fused kernel or standard ops
            "image_size": config["image_size"],
            "threads": settings.threads or _cores(),
            "warmup": settings.warmup,
            "runs": settings.runs,
            "tracked_frames": settings.tracked_frames,
            "objects": list(settings.objects),
            "clip": {"height": height, "width": width, "frames": len(clip)},
            "memory_scope": "stage process",  # each stage timed in a fresh process of its own
            "weights": manifest["weights"],
        },
        "gemm": {
            "m": GEMM_SIZE,
            "k": GEMM_SIZE,
            "n": GEMM_SIZE,
            "gflop_per_s": float(np.median(rates)),
            "min_gflop_per_s": min(rates),
            "max_gflop_per_s": max(rates),
            "probes": len(rates),
        },
        "stages": stages,
        "frames": frame_rows,
        "baselines": base_rows,
    }
    report["targets"] = judge_targets(report)
    return report


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def write_report(report: dict, out: Path) -> None:
    """bench.json, bench.md and bench.png into `out`, all or nothing."""
    from runtime.staging import staged_folder

    from .chart import draw_chart

    problems = check_report(report)
    if problems:
        raise ValueError("the benchmark report is inconsistent: " + "; ".join(problems))
    with staged_folder(out, OSError) as staging:
        (staging / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
        (staging / "bench.md").write_text(markdown(report))
        draw_chart(report, staging / "bench.png")
