"""One table per export variant: every stage's file size beside its accuracy against the float32 torch stage.

`verify` prints it for the export it checks (ONNX fp32/fp16/int8; Core ML with any compression preset, its
numerics through whichever backend ran them); the README's compression table is these rows side by side.
"""

from __future__ import annotations

from collections.abc import Sequence


def variant_name(manifest: dict, fmt: str) -> str:
    """e.g. "onnx int8", "coreml fp16 palettize6", "coreml fp16 palettize6 (image_encoder int8)"."""
    section = manifest["formats"][fmt]
    name = f"{fmt} {section['precision']}"
    compression = section.get("compression")
    if not compression:
        return name
    name += "" if compression["preset"] == "none" else f" {compression['preset']}"
    overrides = {s: p for s, p in compression["stages"].items() if p != compression["preset"]}
    if overrides:
        name += " (" + ", ".join(f"{s} {p}" for s, p in overrides.items()) + ")"
    return name


def stage_figures(manifest: dict, fmt: str, rows: Sequence) -> list[dict]:
    """Per stage: bytes and the worst figures over its outputs (max |diff|/std, cosine, PSNR) among `rows`
    (verify.Row for this format); stages without rows get None figures."""
    section = manifest["formats"][fmt]
    out = []
    for stage, entry in section["stages"].items():
        mine = [r for r in rows if r.stage == stage]
        out.append(
            {
                "stage": stage,
                "bytes": entry["bytes"],
                "compression": _weights(entry),
                "rel_diff": max((r.rel_diff for r in mine), default=None),
                "cosine": min((r.cosine for r in mine), default=None),
                "psnr": min((r.psnr for r in mine), default=None),
            }
        )
    return out


def _weights(entry: dict) -> str | None:
    """How a stage stores its weights: a Core ML preset (and "fitted" when fitted rounding placed them) or an
    ONNX quantization method."""
    if entry.get("compression"):
        return entry["compression"] + (", fitted" if "fitted_rounding" in entry else "")
    return (entry.get("quantization") or {}).get("method")


def markdown(manifest: dict, fmt: str, rows: Sequence, tracking: dict | None = None, engine: str = "") -> str:
    """The variant's table: stage, MB, how its weights are stored, max |diff|/std, cosine, PSNR; a total row."""
    figures = stage_figures(manifest, fmt, rows)
    title = f"{variant_name(manifest, fmt)}" + (f" ({engine})" if engine else "")
    lines = [
        f"{title}: each stage against the float32 torch stage on the same inputs",
        "",
        "| stage | MB | weights | max \\|d\\|/std | cosine | PSNR dB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        if f["cosine"] is None:
            accuracy = "— | — | —"
        else:
            accuracy = f"{f['rel_diff']:.2e} | {f['cosine']:.5f} | {f['psnr']:.1f}"
        lines.append(f"| {f['stage']} | {f['bytes'] / 1e6:.2f} | {f['compression'] or 'as exported'} | {accuracy} |")
    main = [f for f in figures if f["stage"] != "mask_prompt"]
    measured = [f["cosine"] for f in main if f["cosine"] is not None]
    lowest = f"{min(measured):.5f}" if measured else "—"
    lines.append(f"| total (four main stages) | {sum(f['bytes'] for f in main) / 1e6:.2f} | | | {lowest} (lowest) | |")
    if tracking:
        lines.append("")
        lines.append(
            f"Tracking against torch float32 ({tracking['frames']} frames, 2 objects, forward + reverse): "
            f"min IoU {tracking['min_iou']:.4f}, mean {tracking['mean_iou']:.4f} (reported; synthetic weights "
            "amplify any perturbation)"
        )
    return "\n".join(lines)
