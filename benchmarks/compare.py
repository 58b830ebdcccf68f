"""Benchmark reports side by side: one Markdown document and one PNG for any number of bench.json files.

`edgetam-export bench-render` renders what every report of the schema (schema.py) holds, whichever device
and tool wrote it: per stage median / p90 and load time, per tracked frame for each object count and the
first prompted frame, peak memory, the compute units. Each report gets one column (Markdown) or one colour
(chart), labelled by its device and backend / compute units. Figures only one side has (the Python run's
roofline) are shown where present and as "–" elsewhere, never as 0.
"""

from __future__ import annotations

import string
from pathlib import Path

from PIL import Image, ImageDraw

from .chart import GRID, HEIGHT, INK, MUTED, PALETTE, WIDTH, _font, _ms, _panel, save_png

APPLE_KINDS = ("mac", "iphone", "ipad")


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def letters(count: int) -> list[str]:
    """A, B, ... Z, then AA, AB, ...: every report keeps a short tag in headers, legend and footnotes."""
    alphabet = string.ascii_uppercase
    return [alphabet[i] if i < 26 else alphabet[i // 26 - 1] + alphabet[i % 26] for i in range(count)]


def device_name(report: dict) -> str:
    """An Apple device by its model identifier (iPhone16,2), anything else by its chip."""
    d = report["device"]
    name = d["model"] if d["kind"] in APPLE_KINDS else d["chip"]
    return name if len(name) <= 36 else name[:35] + "…"


def run_name(report: dict) -> str:
    """The backend and what it was allowed to use: "coreml CPU_AND_NE fp16", "onnx CPU fp32"."""
    s = report["setting"]
    return f"{s['backend']} {s['compute_units'] or 'CPU'} {s['precision']}"


def label(report: dict, tag: str) -> str:
    return f"{tag}: {device_name(report)} · {run_name(report)}"


def _stage_rows(report: dict) -> dict[str, dict]:
    return {r["stage"]: r for r in report["stages"] if r["batch"] == 1}


def _union(lists: list[list]) -> list:
    seen: list = []
    for items in lists:
        seen += [x for x in items if x not in seen]
    return seen


def markdown(reports: list[dict]) -> str:
    """The reports side by side, one column each (the same document for one report or many)."""
    tags = letters(len(reports))
    head = "| | " + " | ".join(label(r, t) for r, t in zip(reports, tags)) + " |"
    rule = "| --- " * (len(reports) + 1) + "|"

    def row(name: str, cells: list[str]) -> str:
        return f"| {name} | " + " | ".join(cells) + " |"

    def device(r: dict) -> str:
        d = r["device"]
        memory = f", {_num(d.get('memory_gb'))} GB" if d.get("memory_gb") is not None else ""
        return f"{d['model']} ({d['kind']}): {d['chip']}, {d['cores']} cores{memory}"

    def setting(r: dict) -> str:
        s = r["setting"]
        threads = f", {s['threads']} threads" if s.get("threads") else ""
        return f"{run_name(r)}{threads}, {s['image_size']} px; {s['runs']} runs after {s['warmup']} warm-up"

    def tool(r: dict) -> str:
        t = r["tool"]
        return f"{t['name']} {t.get('version', '')}".strip() + f", {r['created']}"

    lines = ["### EdgeTAM benchmark, side by side", "", head, rule]
    lines.append(row("device", [device(r) for r in reports]))
    lines.append(row("OS", [r["device"]["os"] for r in reports]))
    lines.append(row("compute units offered", [", ".join(r["device"]["compute_units"]) for r in reports]))
    lines.append(row("setting", [setting(r) for r in reports]))
    lines.append(row("measured by", [tool(r) for r in reports]))

    stages = [_stage_rows(r) for r in reports]
    names = _union([list(s) for s in stages])

    def stage_cell(rows: dict, name: str) -> str:
        r = rows.get(name)
        if r is None:
            return "–"
        roof = f", {r['vs_roofline']:.2f}× roofline" if r.get("vs_roofline") is not None else ""
        return f"{_num(r['median_ms'])} / {_num(r['p90_ms'])}{roof}"

    lines += ["", "Per stage, one call with one object: median / p90 ms", "", head.replace("| |", "| stage |", 1), rule]
    lines += [row(n, [stage_cell(s, n) for s in stages]) for n in names]
    lines += ["", "Model load (Core ML: and compile) per stage, ms", "", head.replace("| |", "| stage |", 1), rule]
    lines += [row(n, [_num(s[n]["load_ms"], 0) if n in s else "–" for s in stages]) for n in names]
    lines.append(row("all stages", [_num(sum(r["load_ms"] for r in s.values()), 0) for s in stages]))

    frames = [{f["objects"]: f for f in r["frames"]} for r in reports]
    counts = sorted(_union([list(f) for f in frames]))

    def frame_cell(rows: dict, n: int) -> str:
        f = rows.get(n)
        if f is None:
            return "–"
        roof = f", {f['vs_roofline']:.2f}× roofline" if f.get("vs_roofline") is not None else ""
        return f"{_num(f['median_ms'])} / {_num(f['p90_ms'])}{roof}; first frame {_num(f['first_frame_ms'])}"

    lines += [
        "",
        "Per tracked frame: median / p90 ms; the first (prompted) frame ms",
        "",
        head.replace("| |", "| objects |", 1),
        rule,
    ]
    lines += [row(str(n), [frame_cell(f, n) for f in frames]) for n in counts]

    lines += ["", "Peak resident memory, MB", "", head.replace("| |", "| after stage |", 1), rule]
    lines += [row(n, [_num(s[n]["peak_rss_mb"], 0) if n in s else "–" for s in stages]) for n in names]
    scopes = {
        "stage process": "each stage in a process of its own",
        "benchmark process": "the benchmark's one process, high-water mark so far (later stages include earlier ones)",
    }
    lines += ["", "; ".join(f"{t}: {scopes[r['setting']['memory_scope']]}" for r, t in zip(reports, tags)) + "."]
    return "\n".join(lines) + "\n"


def draw_chart(reports: list[dict], path: Path) -> None:
    """The reports side by side as one PNG: per stage and per tracked frame, one colour per report."""
    tags = letters(len(reports))
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(reports))]
    stages = [_stage_rows(r) for r in reports]
    stage_rows: list[tuple] = []
    for name in _union([list(s) for s in stages]):
        stage_rows.append(("head", name))
        for tag, colour, rows in zip(tags, colours, stages):
            r = rows.get(name)
            if r is not None:
                text = f"{tag}: {_ms(r['median_ms'])} (load {_ms(r['load_ms'])})"
                stage_rows.append(("bar", text, colour, r["median_ms"], r["p90_ms"], r.get("roofline_ms")))
    frames = [{f["objects"]: f for f in r["frames"]} for r in reports]
    frame_rows: list[tuple] = []
    for n in sorted(_union([list(f) for f in frames])):
        frame_rows.append(("head", f"{n} object{'s' if n != 1 else ''}"))
        for tag, colour, rows in zip(tags, colours, frames):
            f = rows.get(n)
            if f is not None:
                text = f"{tag}: {_ms(f['median_ms'])} (first frame {_ms(f['first_frame_ms'])})"
                frame_rows.append(("bar", text, colour, f["median_ms"], f["p90_ms"], f.get("roofline_ms")))

    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    draw.text((30, 14), "EdgeTAM benchmark, side by side", font=_font(24), fill=INK)
    legend, y = _font(16), 50
    for tag, colour, report in zip(tags, colours, reports):
        if y > 110:  # more reports than legend lines: the Markdown names them all
            draw.text((30, y), "…", font=legend, fill=MUTED)
            break
        draw.rectangle([30, y + 2, 46, y + 16], fill=colour)
        draw.text((52, y), label(report, tag), font=legend, fill=INK)
        y += 20
    _panel(draw, (30, 130, 680, 860), "Per stage (one call, one object)", stage_rows)
    _panel(draw, (720, 130, 1370, 860), "Per tracked frame", frame_rows)
    draw.line([(30, 868), (1370, 868)], fill=GRID)
    draw.text((30, 874), "bar: median; whisker: p90; red mark: roofline where measured", font=_font(15), fill=MUTED)
    save_png(img, Path(path))
