"""The benchmark report: targets judged from the measurements, a Markdown rendering, and a consistency check.

The targets are those of the benchmarks issue. They are judged here, in the report, from figures measured
in the same run: speed is asserted by the benchmark, never by a timed unit test.
"""

from __future__ import annotations

import math

from .node_profile import COUNTED_OPS, split_counted
from .schema import structure_problems, value_problems

PER_FRAME_STAGES = ("image_encoder", "memory_attention", "mask_decoder", "memory_encoder")
PER_OBJECT_STAGES = PER_FRAME_STAGES[1:]
ROOFLINE_LIMIT = 1.15  # measured / (counted FLOPs ÷ measured GEMM rate)
SPEEDUP_LIMIT = 1.3  # over transformers' eager model, one object
IOU_LIMIT = 0.99


def _target(target: str, value: float | None, limit: float, higher_is_better: bool = False) -> dict:
    met = value is not None and (value >= limit if higher_is_better else value <= limit)
    return {"target": target, "value": value, "limit": limit, "met": bool(met)}


def judge_targets(report: dict) -> list[dict]:
    targets = []
    for row in report["stages"]:
        if row["stage"] in PER_FRAME_STAGES:
            targets.append(_target(f"{row['stage']} within {ROOFLINE_LIMIT}× of roofline", row["vs_roofline"], 1.15))
    frames = {f["objects"]: f for f in report["frames"]}
    if 1 in frames:
        targets.append(_target(f"tracked frame within {ROOFLINE_LIMIT}× of roofline", frames[1]["vs_roofline"], 1.15))
    for base in report["baselines"]:
        if base["name"] == "transformers eager" and base["objects"] == 1 and base["status"] == "measured":
            targets.append(_target("speedup over transformers eager", base["speedup"], SPEEDUP_LIMIT, True))
            targets.append(_target("min IoU vs transformers eager", base["min_iou"], IOU_LIMIT, True))
    for n, frame in sorted(frames.items()):
        once = frame["calls"].get("image_encoder") == [1] and frame["calls_same_every_frame"]
        batched = all(frame["calls"].get(s) == [n] for s in PER_OBJECT_STAGES)
        targets.append(
            _target(
                f"{n} object(s): image encoder once, per-object stages one call of {n}",
                float(once and batched),
                1.0,
                True,
            )
        )
        if frame["bound_ms"] is not None:
            targets.append(
                _target(
                    f"{n} objects within the 1-object frame + {n - 1}× the per-object stages (ms)",
                    frame["median_ms"],
                    frame["bound_ms"],
                )
            )
    return targets


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(report: dict) -> str:
    s, m, g = report["setting"], report["device"], report["gemm"]
    units = f" ({s['compute_units']})" if s.get("compute_units") else ""
    attention = f", {s['attention']} attention" if s["backend"] == "onnx" else ""
    lines = [
        f"### EdgeTAM benchmark: {s['backend']}{units} {s['precision']}{attention}, {s['image_size']}², "
        f"{s['threads']} threads",
        "",
        f"{m['chip']} ({m['cores']} cores, {_fmt(m['memory_gb'])} GB), {m['os']}; {report['created']}. "
        f"GEMM rate ({g['m']}³ fp32 MatMul, same runtime), measured around every measurement: median "
        f"{g['gflop_per_s']:.1f} GFLOP/s, {g['min_gflop_per_s']:.1f}–{g['max_gflop_per_s']:.1f} over {g['probes']} "
        "probes; each roofline uses the rate measured around it. "
        f"Latency: median and p90 of {s['runs']} runs after {s['warmup']} warm-up runs.",
        "",
        "| stage (batch 1) | GFLOP (attention) | params M | file MB | median ms | p90 ms | GEMM GFLOP/s "
        "| roofline ms | × roofline | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["stages"]:
        lines.append(
            f"| {r['stage']} | {r['gflop']:.2f} ({r['attention_gflop']:.1f}) | {r['params_m']:.2f} "
            f"| {r['file_mb']:.1f} "
            f"| {_fmt(r['median_ms'])} | {_fmt(r['p90_ms'])} | {_fmt(r['gemm_gflop_per_s'])} "
            f"| {_fmt(r['roofline_ms'])} | {_fmt(r['vs_roofline'], 2)} "
            f"| {_fmt(r['peak_rss_mb'], 0)} |"
        )
    profiled = [r for r in report["stages"] if r.get("op_ms") and r["stage"] in PER_FRAME_STAGES]
    if profiled:
        lines += [
            "",
            "Where each stage's time goes (onnxruntime's node time per run, profiled after the timed runs): ops the "
            "FLOP count covers (convolutions, matrix products, fused attention) and all others, which carry no "
            "counted FLOPs and are bound by memory traffic.",
            "",
            "| stage | counted ops ms (GFLOP/s) | other ops ms | largest other ops ms |",
            "| --- | --- | --- | --- |",
        ]
        for r in profiled:
            counted, other = split_counted(r["op_ms"])
            largest = [(op, ms) for op, ms in r["op_ms"].items() if op not in COUNTED_OPS][:4]
            lines.append(
                f"| {r['stage']} | {counted:,.1f} ({r['gflop'] / max(counted, 1e-9) * 1e3:,.0f}) | {other:,.1f} "
                f"| {', '.join(f'{op} {ms:,.1f}' for op, ms in largest)} |"
            )
    names = sorted({b["name"] for b in report["baselines"]})
    head = "| objects | first frame ms | tracked median ms | p90 ms | GFLOP | GEMM GFLOP/s | roofline ms | × roofline |"
    lines += ["", head + "".join(f" {n} ms (speedup, min IoU) |" for n in names)]
    lines.append("| --- " * (8 + len(names)) + "|")
    for f in report["frames"]:
        row = (
            f"| {f['objects']} | {_fmt(f['first_frame_ms'])} | {_fmt(f['median_ms'])} | {_fmt(f['p90_ms'])} "
            f"| {f['gflop']:.1f} | {_fmt(f['gemm_gflop_per_s'])} | {_fmt(f['roofline_ms'])} "
            f"| {_fmt(f['vs_roofline'], 2)} |"
        )
        for n in names:
            b = next((b for b in report["baselines"] if b["name"] == n and b["objects"] == f["objects"]), None)
            if b is None:
                row += " – |"
            elif b["status"] != "measured":
                row += f" {b['status']} |"
            else:
                row += f" {_fmt(b['median_ms'])} (×{b['speedup']:.2f}, {b['min_iou']:.4f}) |"
        lines.append(row)
    lines += ["", "| target | value | limit | met |", "| --- | --- | --- | --- |"]
    for t in report["targets"]:
        met = "yes" if t["met"] else "NO"
        lines.append(f"| {t['target']} | {_fmt(t['value'], 3)} | {_fmt(t['limit'], 3)} | {met} |")
    return "\n".join(lines) + "\n"


def check_report(report: dict) -> list[str]:
    """Problems that make a Python run's report incomplete or inconsistent (empty when it is sound): the schema
    (schema.py) plus the Python run's own sections and the arithmetic between its figures."""
    problems = structure_problems(report)
    for key in ("gemm", "baselines", "targets"):  # optional in the schema, always written by the Python run
        if key not in report:
            problems.append(f"missing {key}")
    if problems:
        return problems
    schema_values, problems = value_problems(report), []
    rate = report["gemm"]["gflop_per_s"]

    def positive(where: str, value: object) -> None:
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            problems.append(f"{where} is {value!r}, not a positive number")

    positive("gemm rate", rate)
    stages = [r["stage"] for r in report["stages"]]
    for name in PER_FRAME_STAGES:
        if name not in stages:
            problems.append(f"stage {name} missing")
    for r in report["stages"]:
        keys = ("median_ms", "p90_ms", "gflop", "params_m", "file_mb", "peak_rss_mb", "roofline_ms", "gemm_gflop_per_s")
        for key in keys:
            positive(f"{r['stage']}.{key}", r[key])
        if not problems:
            if abs(r["roofline_ms"] - r["gflop"] / r["gemm_gflop_per_s"] * 1e3) > 1e-6 * r["roofline_ms"]:
                problems.append(f"{r['stage']}: roofline is not GFLOP / GEMM rate")
            if abs(r["vs_roofline"] - r["median_ms"] / r["roofline_ms"]) > 1e-9 * r["vs_roofline"]:
                problems.append(f"{r['stage']}: × roofline is not median / roofline")
    for f in report["frames"]:
        for key in ("first_frame_ms", "median_ms", "p90_ms", "gflop", "roofline_ms", "gemm_gflop_per_s"):
            positive(f"frame[{f['objects']}].{key}", f[key])
        if not problems and abs(f["roofline_ms"] - f["gflop"] / f["gemm_gflop_per_s"] * 1e3) > 1e-6 * f["roofline_ms"]:
            problems.append(f"frame[{f['objects']}]: roofline is not GFLOP / GEMM rate")
        if f["runs"] != report["setting"]["tracked_frames"]:
            problems.append(
                f"frame[{f['objects']}]: {f['runs']} tracked frames timed, asked for "
                f"{report['setting']['tracked_frames']}"
            )
    for b in report["baselines"]:
        if b["status"] == "measured":
            for key in ("median_ms", "first_frame_ms", "speedup", "min_iou"):
                positive(f"{b['name']}[{b['objects']}].{key}", b[key])
            ours = next((f for f in report["frames"] if f["objects"] == b["objects"]), None)
            if ours and abs(b["speedup"] - b["median_ms"] / ours["median_ms"]) > 1e-9 * b["speedup"]:
                problems.append(f"{b['name']}[{b['objects']}]: speedup is not their median / ours")
    if not report["targets"]:
        problems.append("no targets judged")
    return schema_values + problems
