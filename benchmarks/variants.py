"""Export variants side by side: ONNX precisions timed in one run, Core ML presets sized and measured.

    python -m benchmarks.variants onnx build/fp32 build/int8         # stage and tracked-frame latency, IoU
    python -m benchmarks.variants coreml --image-size 1024           # every preset's size per stage
    python -m benchmarks.variants coreml --image-size 256 --numerics # + cosine etc. through the interpreter

ONNX: each stage (batch 1, a steady tracked frame's capacities) runs once per variant in turn, and the tracked
sessions advance one frame per variant in turn (`tracking.interleave`), so every variant meets the shared
machine in the same state; the first folder is the reference for speedups and IoU. Core ML: each stage is
converted once and saved under every preset (`coreml_compression`); with `--numerics` each package runs
through the ML Program interpreter (`runtime.mlprogram`, when installed) against the float32 torch stage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .timing import summary_ms

CAPACITIES = {"B": 1, "K": 1, "N": 16, "P": 1}


def onnx_variants(folders: list[Path], runs: int = 5, frames: int = 6, threads: int | None = None) -> dict:
    """Per stage and per tracked frame: median ms of every variant, timed in turn; IoU against folders[0]."""
    from edgetam_export.clip import synthetic_clip
    from edgetam_export.examples import example_arrays
    from edgetam_export.metrics import iou
    from runtime.backends.onnx import OnnxBackend
    from runtime.contract import STAGES, model_sizes
    from runtime.manifest import load_manifest

    from .tracking import interleave, timed_session

    names = [str(f) for f in folders]
    backends = {n: OnnxBackend.from_folder(f, threads=threads) for n, f in zip(names, folders)}
    manifests = {n: load_manifest(f) for n, f in zip(names, folders)}
    config = backends[names[0]].config
    sizes = {**model_sizes(config), **CAPACITIES}
    stages: dict = {}
    for stage in STAGES:
        inputs = example_arrays(stage, sizes, seed=1, all_valid=True)
        times: dict[str, list[float]] = {n: [] for n in names}
        for n in names:
            backends[n].run(stage, inputs)  # warm-up
        for _ in range(runs):
            for n in names:
                start = time.perf_counter()
                backends[n].run(stage, inputs)
                times[n].append(time.perf_counter() - start)
        stages[stage] = {
            n: {**summary_ms(times[n]), "bytes": manifests[n]["formats"]["onnx"]["stages"][stage]["bytes"]}
            for n in names
        }
    clip = synthetic_clip(frames + 1, 540, 960)
    items = interleave({n: timed_session(backends[n], clip, objects=1) for n in names})
    tracked = {}
    for n in names:
        masks = {item[1]: item[2] for item in items[n]}
        ref = {item[1]: item[2] for item in items[names[0]]}
        ious = [iou(masks[i][j], ref[i][j]) for i in ref for j in range(len(ref[i]))]
        tracked[n] = {
            **summary_ms([item[0] for item in items[n][1:]]),
            "min_iou": min(ious),
            "mean_iou": float(np.mean(ious)),
            "precision": manifests[n]["formats"]["onnx"]["precision"],
        }
    return {"image_size": config["image_size"], "reference": names[0], "stages": stages, "tracked": tracked}


def onnx_markdown(report: dict) -> str:
    names = list(report["tracked"])
    ref = report["reference"]
    lines = [
        f"ONNX variants at {report['image_size']}², timed in turn in one run (reference: {ref})",
        "",
        "| variant | "
        + " | ".join(f"{s} MB / ms (×)" for s in report["stages"])
        + " | tracked frame ms (×) | IoU min / mean |",
        "| --- | " + " | ".join("---" for _ in report["stages"]) + " | --- | --- |",
    ]
    for n in names:
        cells = []
        for figures in report["stages"].values():
            speed = figures[ref]["median_ms"] / figures[n]["median_ms"]
            cells.append(f"{figures[n]['bytes'] / 1e6:.1f} / {figures[n]['median_ms']:.1f} (×{speed:.2f})")
        t = report["tracked"][n]
        speed = report["tracked"][ref]["median_ms"] / t["median_ms"]
        lines.append(
            f"| {t['precision']} ({n}) | " + " | ".join(cells) + f" | {t['median_ms']:.1f} (×{speed:.2f}) | "
            f"{t['min_iou']:.4f} / {t['mean_iou']:.4f} |"
        )
    return "\n".join(lines)


def coreml_presets(
    image_size: int,
    presets: list[str],
    numerics: bool = False,
    seed: int = 1,
    target: str = "iOS17",
    rounding: str = "fitted",
) -> dict:
    """Every stage converted (fp16, for deployment `target`) and saved under each preset (a preset, or
    presets and STAGE=PRESET overrides joined by "+", e.g. "palettize6+image_encoder=int8"): bytes, and with
    `numerics` the worst output's max |diff|/std, cosine and PSNR against the float32 torch stage
    (interpreter, batch 1). With `rounding` "fitted" each compressed stage is fitted and converted once per
    preset it gets (as an export does); with "nearest" one conversion serves every preset."""
    import torch

    from edgetam_export import coreml_compression as cc
    from edgetam_export import to_coreml
    from edgetam_export.examples import example_inputs
    from edgetam_export.export import calibration_frames, coreml_stage_module, size_bytes
    from edgetam_export.metrics import cosine, psnr, rel_diff
    from reference_model import EdgeTamConfig, Stages, synthetic_model
    from reference_model.attention import float16_safe
    from runtime.contract import STAGES, model_sizes

    model = synthetic_model(seed, EdgeTamConfig(image_size=image_size))[0]
    stages = Stages(model).eval()
    sizes = {**model_sizes(model.cfg.to_dict()), "K": 4, "N": 19, "P": 16}
    metadata = {"author": "benchmarks", "license": "", "version": "", "weights": "{}"}
    program = None
    if numerics:
        from runtime.mlprogram import Program as program  # noqa: N813 (the interpreter's class)
    out: dict = {p: {} for p in presets}
    plans = {p: cc.CompressionPlan.parse(tuple(p.split("+")), target=target, rounding=rounding) for p in presets}
    frames = calibration_frames(None, image_size) if any(p.fitted("image_encoder") for p in plans.values()) else []

    def converted(module) -> tuple:
        with float16_safe(module):
            mlmodel, batch = to_coreml.convert_stage(module, stage, sizes, 8, "fp16", target)
        return mlmodel, batch, to_coreml.layer_choices(module)

    with tempfile.TemporaryDirectory() as scratch:
        for name, stage in STAGES.items():
            module = getattr(stages, name)
            # one conversion per distinct weight set: unfitted stages share one, fitted ones one per stage preset
            conversions: dict[str | None, tuple] = {}
            inputs = example_inputs(name, {**sizes, "B": 1}, seed=100)
            with torch.no_grad():
                want = module(*[inputs[n] for n in stage.input_names])
            want = [w.numpy() for w in ((want,) if isinstance(want, torch.Tensor) else want)]
            for preset, plan in plans.items():
                path = Path(scratch) / f"{preset}-{name}.mlpackage"
                fitted = plan.fitted(name)
                key = plan.preset_of(name) if fitted else None
                if key not in conversions:
                    conversions[key] = converted(coreml_stage_module(stages, name, sizes, plan, frames))
                mlmodel, batch, layers = conversions[key]
                to_coreml.save_package(mlmodel, stage, sizes, metadata, batch, "fp16", plan, path, layers)
                row: dict = {"bytes": size_bytes(path), "rounding": rounding if fitted else "—"}
                if program is not None:
                    got = program(path, name).run({k: v.numpy() for k, v in inputs.items()})
                    pairs = [(got[o], w) for o, w in zip(stage.output_names, want)]
                    row["rel_diff"] = max(rel_diff(g, w, min_std=max(float(np.abs(w).mean()), 1e-6)) for g, w in pairs)
                    row["cosine"] = min(cosine(g, w) for g, w in pairs)
                    row["psnr"] = min(psnr(g, w) for g, w in pairs)
                out[preset][name] = row
                print(f"{preset:<11} {name:<17} {json.dumps(row)}", file=sys.stderr)
    return {"image_size": image_size, "target": target, "rounding": rounding, "presets": out}


def coreml_tracking(
    image_size: int, presets: list[str], frames: int = 4, seed: int = 1, target: str = "iOS17", rounding: str = "fitted"
) -> dict:
    """Each preset exported (Core ML, fp16) and tracked through the ML Program interpreter against the float32
    ONNX export of the same weights: two objects, forward then reverse on a generated clip (verify's
    scenario). IoU of `logits > 0` per frame and object: a stress figure on synthetic weights."""
    from edgetam_export.coreml_compression import CompressionPlan
    from edgetam_export.export import ExportOptions, export_all
    from edgetam_export.verify import iou_figures, tracked_masks
    from reference_model import EdgeTamConfig, synthetic_model
    from runtime.backends import load_backend

    model, info = synthetic_model(seed, EdgeTamConfig(image_size=image_size))
    out: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        reference_folder = Path(scratch) / "onnx"
        export_all(model, info, reference_folder, ExportOptions(formats=("onnx",)))
        reference = tracked_masks(load_backend(reference_folder, "onnx"), frames)
        for preset in presets:
            folder = Path(scratch) / preset
            plan = CompressionPlan.parse(tuple(preset.split("+")), target=target, rounding=rounding)
            export_all(model, info, folder, ExportOptions(formats=("coreml",), compression=plan))
            out[preset] = iou_figures([tracked_masks(load_backend(folder, "mlprogram"), frames), reference])
            print(f"{preset:<11} tracking {json.dumps(out[preset])}", file=sys.stderr)
    return out


def coreml_markdown(report: dict) -> str:
    presets = report["presets"]
    stages = list(next(iter(presets.values())))
    main = [s for s in stages if s != "mask_prompt"]
    lines = [
        f"Core ML fp16 packages at {report['image_size']}², {report.get('target', 'iOS17')}, "
        f"{report.get('rounding', 'nearest')} rounding, per preset: MB (cosine against float32 torch)",
        "",
        "| preset | " + " | ".join(main) + " | total (4 stages) MB | lowest cosine | tracking IoU vs fp32 ONNX |",
        "| --- | " + " | ".join("---" for _ in main) + " | --- | --- | --- |",
    ]
    for preset, rows in presets.items():
        cells = [
            f"{rows[s]['bytes'] / 1e6:.2f}" + (f" ({rows[s]['cosine']:.5f})" if "cosine" in rows[s] else "")
            for s in main
        ]
        cosines = [rows[s]["cosine"] for s in main if "cosine" in rows[s]]
        total = sum(rows[s]["bytes"] for s in main) / 1e6
        lowest = f"{min(cosines):.5f}" if cosines else "—"
        tracked = report.get("tracking", {}).get(preset)
        iou = f"min {tracked['min_iou']:.3f}, mean {tracked['mean_iou']:.3f}" if tracked else "—"
        lines.append(f"| {preset} | " + " | ".join(cells) + f" | {total:.2f} | {lowest} | {iou} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    onnx = sub.add_parser("onnx", help="time ONNX export folders side by side")
    onnx.add_argument("folders", nargs="+", type=Path)
    onnx.add_argument("--runs", type=int, default=5)
    onnx.add_argument("--frames", type=int, default=6)
    coreml = sub.add_parser("coreml", help="size (and measure) every Core ML preset")
    coreml.add_argument("--image-size", type=int, default=1024)
    coreml.add_argument("--presets", default="none,int8,palettize8,palettize6,palettize4")
    coreml.add_argument("--numerics", action="store_true")
    coreml.add_argument("--target", default="iOS17", help="Core ML deployment target (iOS17, iOS18)")
    coreml.add_argument("--rounding", default="fitted", help="weight rounding: fitted (calibrated) or nearest")
    coreml.add_argument("--tracking", type=int, default=0, metavar="FRAMES", help="also track each preset (slow)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    if args.kind == "onnx":
        report = onnx_variants(args.folders, args.runs, args.frames)
        text = onnx_markdown(report)
    else:
        presets = args.presets.split(",")
        report = coreml_presets(args.image_size, presets, args.numerics, target=args.target, rounding=args.rounding)
        if args.tracking:
            report["tracking"] = coreml_tracking(
                args.image_size, presets, args.tracking, target=args.target, rounding=args.rounding
            )
        text = coreml_markdown(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(text)


if __name__ == "__main__":
    main()
