"""Render a benchmark report (the dict the benchmark writes as JSON) as one PNG, with Pillow only.

Two panels: what each exported stage costs for one call, and what one tracked frame costs for 1, 2, 4...
objects next to the baselines users run today. Missing measurements (None) are skipped, never drawn as 0.
"""

from __future__ import annotations

import math
import os
import pathlib
import tempfile

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1400, 900
OURS = "this toolkit"
# Ours takes the first colour; baselines take the next ones in order of appearance, so a name keeps its
# colour in every object group and in the legend.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
ROOFLINE, INK, MUTED, GRID = "#d62728", "#222222", "#666666", "#dddddd"
BAR_ROW, HEAD_ROW, BAR_H = 58, 36, 26  # px: label line + bar, group header, bar thickness
# Text stays ASCII (x, not the multiplication sign; 1024 px, not a superscript 2): Pillow's built-in font has
# no glyphs for those and would draw empty boxes.


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: the fixed-size bitmap font still works
        return ImageFont.load_default()


def _ms(v: float) -> str:
    return f"{v:,.0f} ms" if v >= 100 else f"{v:.1f} ms"


def _step(top: float) -> float:
    """A 1/2/5 x 10^k gridline step giving about 3-6 gridlines up to ``top``."""
    raw = top / 5
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _vs_roofline(row: dict) -> str:
    median, roof, vs = row.get("median_ms"), row.get("roofline_ms"), row.get("vs_roofline")
    if vs is None and median is not None and roof:
        vs = median / roof
    return f" (x{vs:.2f} of roofline)" if vs is not None else ""


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, rows: list[tuple]) -> None:
    """Rows are ("head", text) or ("bar", label, colour, median, p90, roofline); all bars share one ms axis."""
    x0, y0, x1, y1 = box
    draw.text((x0, y0), title, font=_font(22), fill=INK)
    values = [v for r in rows if r[0] == "bar" for v in r[3:] if v is not None]
    top = max(max(values, default=1.0), 1e-3) * 1.1  # floor: an all-zero panel must not break log10
    height = sum(BAR_ROW if r[0] == "bar" else HEAD_ROW for r in rows)
    # Shrink rows (never grow them) so many object groups and baselines still fit above the axis labels.
    k = min(1.0, (y1 - y0 - 80) / max(height, 1))
    # Text shrinks with its row (down to 10 px) so a label never runs into the bar below it.
    head, small, axis = _font(max(10, round(19 * k))), _font(max(10, round(17 * k))), _font(17)
    bx0, bx1, gy0 = x0 + 4, x1 - 10, y0 + 38
    axis_y = gy0 + round(height * k) + 4

    def sx(v: float) -> float:
        return bx0 + (bx1 - bx0) * v / top

    step = _step(top)
    for i in range(int(top / step) + 1):  # multiply, not accumulate, so labels stay round (0.3, not 0.30000004)
        tick = i * step
        x = sx(tick)
        draw.line([(x, gy0), (x, axis_y)], fill=GRID)
        label = f"{tick:,.0f}" if step >= 1 else f"{tick:g}"
        draw.text((x - draw.textlength(label, font=axis) / 2, axis_y + 4), label, font=axis, fill=MUTED)
    draw.text((bx1 - draw.textlength("ms", font=axis), axis_y + 24), "ms", font=axis, fill=MUTED)

    y = gy0
    for row in rows:
        if row[0] == "head":
            draw.text((x0, y + 10 * k), row[1], font=head, fill=INK)
            y += HEAD_ROW * k
            continue
        _, label, colour, median, p90, roof = row
        draw.text((bx0 + 2, y), label, font=small, fill=INK)
        top_y = y + (BAR_ROW - BAR_H - 6) * k
        mid, bot = top_y + BAR_H * k / 2, top_y + BAR_H * k
        if median is not None:
            draw.rectangle([sx(0), top_y, sx(median), bot], fill=colour)
            if p90 is not None and p90 > median:  # thin whisker out to the 90th percentile
                draw.line([(sx(median), mid), (sx(p90), mid)], fill=INK, width=2)
                draw.line([(sx(p90), top_y + 3), (sx(p90), bot - 3)], fill=INK, width=2)
        if roof is not None:  # the time the counted FLOPs would take at the measured GEMM rate
            draw.line([(sx(roof), top_y - 4), (sx(roof), bot + 4)], fill=ROOFLINE, width=3)
        y += BAR_ROW * k


def draw_chart(report: dict, path: pathlib.Path) -> None:
    """Render ``report`` (benchmark report, format_version 1) as a ~1400x900 PNG at ``path``, atomically."""
    path = pathlib.Path(path)
    device, setting = report.get("device", {}), report.get("setting", {})
    baselines = report.get("baselines", [])
    measured = [b for b in baselines if b.get("status") == "measured" and b.get("median_ms") is not None]
    colours = {OURS: PALETTE[0]}
    for b in measured:
        colours.setdefault(b["name"], PALETTE[len(colours) % len(PALETTE)])

    # The panel title promises batch 1, so other batch sizes (if a report has them) are left out.
    stage_rows: list[tuple] = []
    for s in (s for s in report.get("stages", []) if s.get("batch", 1) == 1):
        median = s.get("median_ms")
        text = _ms(median) + _vs_roofline(s) if median is not None else "not measured"
        stage_rows.append(("bar", f"{s['stage']}: {text}", PALETTE[0], median, s.get("p90_ms"), s.get("roofline_ms")))
    frame_rows: list[tuple] = []
    for f in report.get("frames", []):
        n, first, median = f["objects"], f.get("first_frame_ms"), f.get("median_ms")
        head = f"{n} object{'s' if n != 1 else ''}" + (f"  -  first frame {_ms(first)}" if first is not None else "")
        text = _ms(median) + _vs_roofline(f) if median is not None else "not measured"
        frame_rows.append(("head", head))
        frame_rows.append(("bar", f"{OURS}: {text}", colours[OURS], median, f.get("p90_ms"), f.get("roofline_ms")))
        for b in (b for b in measured if b.get("objects") == n):
            name = f"{b['name']} {b.get('version') or ''}".strip()
            speedup = f" (speedup x{b['speedup']:.2f})" if b.get("speedup") is not None else ""
            label = f"{name}: {_ms(b['median_ms'])}{speedup}"
            frame_rows.append(("bar", label, colours[b["name"]], b["median_ms"], b.get("p90_ms"), None))

    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    title = (
        f"EdgeTAM benchmark - {setting.get('backend')} {setting.get('precision')}, "
        f"{setting.get('image_size')} px, {str(device.get('chip'))[:70]}, {device.get('cores')} cores"
    )
    draw.text((30, 14), title, font=_font(24), fill=INK)
    draw.text((30, 46), str(report.get("created", "")), font=_font(16), fill=MUTED)

    # Legend: one swatch per implementation, then the two marker kinds.
    legend, x, y = _font(16), 30.0, 76
    for name, colour in colours.items():
        draw.rectangle([x, y + 2, x + 16, y + 16], fill=colour)
        draw.text((x + 22, y), name, font=legend, fill=INK)
        x += 22 + draw.textlength(name, font=legend) + 24
    gflops = report.get("gemm", {}).get("gflop_per_s")
    roof_text = "roofline: counted FLOPs / measured GEMM rate" + (f" ({gflops:.0f} GFLOP/s)" if gflops else "")
    draw.line([(x + 8, y - 2), (x + 8, y + 20)], fill=ROOFLINE, width=3)
    x += 22
    draw.text((x, y), roof_text, font=legend, fill=INK)
    x += draw.textlength(roof_text, font=legend) + 24
    draw.line([(x, y + 9), (x + 16, y + 9)], fill=INK, width=2)
    draw.line([(x + 16, y + 4), (x + 16, y + 14)], fill=INK, width=2)
    draw.text((x + 22, y), "p90", font=legend, fill=INK)

    _panel(draw, (30, 120, 680, 860), "Per stage (one call, batch 1)", stage_rows)
    _panel(draw, (720, 120, 1370, 860), "Per tracked frame", frame_rows)
    skipped = sorted({f"{b.get('name')} ({b.get('status')})" for b in baselines if b.get("status") != "measured"})
    if skipped:
        draw.text((30, 870), "not shown: " + ", ".join(skipped), font=_font(15), fill=MUTED)

    save_png(img, path)


def save_png(img: Image.Image, path: pathlib.Path) -> None:
    """Render next to the target and rename, so a reader never sees a half-written PNG."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            img.save(out, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
