"""`edgetam-export`: the toolkit's command line (a click group; one command per job)."""

from __future__ import annotations

from pathlib import Path

import click

from .weights import export_source_model, load_weights, weights_options


def _user_error(exc: BaseException) -> bool:
    """Errors whose message tells the user what is wrong with an input (never a bug): shown without a
    traceback. Their modules are looked up only when already imported (torch loads only when needed)."""
    import sys

    from runtime.errors import InputError, SessionError

    kinds: tuple = (InputError, SessionError)
    for module, name in (("reference_model.checkpoint", "CheckpointError"), ("edgetam_export.export", "ExportError")):
        if module in sys.modules:
            kinds += (getattr(sys.modules[module], name),)
    return isinstance(exc, kinds)


class _Commands(click.Group):
    """Every command ends an input problem in one message and a non-zero exit status, whichever check found
    it (a command need not wrap each call that reads a file)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _user_error(exc):
                raise click.ClickException(str(exc)) from None
            raise


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Export EdgeTAM to Core ML and ONNX, verify the exports, and track videos."""


@main.command()
@weights_options
def info(weights) -> None:
    """Load weights and describe the model and its stages."""
    from reference_model import Stages

    model, provenance = load_weights(weights)
    stages = Stages(model)
    click.echo(f"weights: {provenance.describe()}")
    if provenance.kind == "synthetic":
        click.echo("  (synthetic weights: masks are not meaningful; pass --checkpoint edgetam.pt for real ones)")
    click.echo(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M")
    for name, module in stages.named_children():
        count = sum(p.numel() for p in module.parameters())
        click.echo(f"  {name:<17} {count / 1e6:6.2f} M parameters")


@main.command()
@weights_options
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["onnx", "coreml", "all"]),
    default=("all",),
    show_default=True,
    help="repeatable",
)
@click.option(
    "--precision",
    type=click.Choice(["fp16", "fp32", "int8"]),
    help="default: fp16 for Core ML, fp32 for ONNX; int8: ONNX only (Core ML: --compress)",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="export folder")
@click.option("--cond-slots", type=int, default=4, show_default=True, help="Core ML: conditioning memories attended")
@click.option("--point-slots", type=int, default=16, show_default=True, help="Core ML: points per object and call")
@click.option(
    "--onnx-attention",
    type=click.Choice(["onnxruntime", "standard"]),
    default="onnxruntime",
    show_default=True,
    help="memory attention through onnxruntime's fused kernel, or standard ONNX ops for other runtimes",
)
@click.option(
    "--compress",
    multiple=True,
    metavar="PRESET|STAGE=PRESET",
    help="Core ML weights: none|int8|palettize8|palettize6|palettize4|mixed (each layer a 4/6/8-bit table, int8 or "
    "float16, chosen to keep each stage's cosine ≥ 0.999)|recommended (mixed); STAGE=PRESET overrides one stage "
    "(repeatable)",
)
@click.option("--compress-skip-op", multiple=True, metavar="OP", help="Core ML: MIL op type left uncompressed (conv…)")
@click.option(
    "--coreml-target",
    type=click.Choice(["iOS17", "iOS18"]),
    default="iOS17",
    show_default=True,
    help="Core ML deployment target; iOS18 palettizes with a table per group of channels (more exact, iOS 18+)",
)
@click.option(
    "--coreml-rgb-input/--no-coreml-rgb-input",
    default=False,
    show_default=True,
    help="also image_encoder_rgb.mlpackage (RGB image input; a second copy of the encoder's weights)",
)
@click.option(
    "--int8-image-encoder",
    type=click.Choice(["dynamic", "weights", "static"]),
    default="dynamic",
    show_default=True,
    help="int8 ONNX image encoder: dynamic int8 1×1 convs (fast, cosine ≥ 0.99); weights: int8 weights, float32 "
    "arithmetic; static: calibrated int8 convs (fast, inexact)",
)
@click.option(
    "--compress-rounding",
    type=click.Choice(["fitted", "nearest"]),
    default="fitted",
    show_default=True,
    help="Core ML --compress: weights fitted to calibration inputs so each layer's outputs move least (GPTQ), "
    "or each weight rounded to its nearest table entry (data-free, faster export)",
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path),
    metavar="VIDEO",
    help="frames calibrating static int8 ONNX and fitted Core ML compression (default: a generated clip)",
)
@click.option("--image-size", type=int, default=1024, show_default=True, hidden=True)
def export(
    weights, formats, precision, out, cond_slots, point_slots, onnx_attention, image_size, **compression
) -> None:
    """Export the stages to ONNX and/or Core ML with a manifest.json."""
    from reference_model import EdgeTamConfig
    from runtime.contract import STAGES

    from .coreml_compression import CompressionError, CompressionPlan
    from .export import FORMATS, ExportError, ExportOptions, export_all

    chosen = FORMATS if "all" in formats else tuple(dict.fromkeys(formats))
    try:
        options = ExportOptions(
            formats=chosen,
            precision={f: precision for f in chosen} if precision else None,
            cond_slots=cond_slots,
            point_slots=point_slots,
            onnx_attention=onnx_attention,
            compression=CompressionPlan.parse(
                compression["compress"],
                compression["compress_skip_op"],
                tuple(STAGES),
                compression["coreml_target"],
                compression["compress_rounding"],
            ),
            coreml_rgb_input=compression["coreml_rgb_input"],
            int8_image_encoder=compression["int8_image_encoder"],
            calibration=compression["calibration"],
        )
    except (ExportError, CompressionError) as exc:
        raise click.UsageError(str(exc)) from exc
    model, provenance = load_weights(weights, EdgeTamConfig(image_size=image_size))
    click.echo(f"weights: {provenance.describe()}")

    def progress(stage: str, fmt: str, seconds: float) -> None:
        click.echo(f"  {fmt:<7} {stage:<32} {seconds:6.1f} s")

    try:
        manifest = export_all(model, provenance, out, options, progress)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    for fmt, section in manifest["formats"].items():
        total = sum(e["bytes"] for e in section["stages"].values())
        compressed = section.get("compression", {}).get("preset", "none")
        detail = f", weights {compressed}" if compressed != "none" else ""
        click.echo(f"{fmt}: {len(section['stages'])} stages, {total / 1e6:.1f} MB, {section['precision']}{detail}")
    click.echo(f"wrote {out / 'manifest.json'}")


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path), help="the checkpoint the export was made from")
@click.option("--frames", type=int, default=4, show_default=True, help="clip length of the tracking check")
def verify(folder: Path, checkpoint: Path | None, frames: int) -> None:
    """Check an export against the torch reference; exit status 1 below the bars."""
    import sys

    from reference_model import CheckpointError, Stages
    from runtime.errors import InputError
    from runtime.manifest import load_manifest

    from . import verify as checks

    try:
        manifest = load_manifest(folder)
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        model = export_source_model(manifest, checkpoint)
    except (InputError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from exc
    stages = Stages(model).eval()
    rows, failures = [], []
    if "onnx" in manifest["formats"]:
        rows += checks.verify_onnx(folder, stages, manifest["formats"]["onnx"]["precision"])
    rows += checks.fp16_estimate(stages)
    click.echo(f"{'check':<7} {'stage':<17} {'output':<20} {'max|d|/std':>10} {'cosine':>9} {'PSNR dB':>8}")
    for r in rows:
        click.echo(f"{r.check:<7} {r.figures}{r.mark}")
        if not r.passed:
            failures.append(r.failure)
    figures, numeric = None, None
    if "onnx" in manifest["formats"]:
        figures = checks.tracking_iou(folder, model, "onnx", frames)
        # float16 end to end is reported, not barred: synthetic weights amplify tiny input changes.
        barred = manifest["formats"]["onnx"]["precision"] == "fp32"
        click.echo(
            f"tracking (onnx vs torch, {figures['frames']} frames, 2 objects, forward + reverse): "
            f"min IoU {figures['min_iou']:.4f}, mean {figures['mean_iou']:.4f}" + ("" if barred else " (reported)")
        )
        if barred and not figures["passed"]:
            failures.append("onnx tracking IoU")
    if "coreml" in manifest["formats"]:
        problems = checks.verify_coreml_structure(folder, manifest)
        click.echo(f"coreml structure: {'ok' if not problems else '; '.join(problems)}")
        failures += problems
        fp16_estimate = [r for r in rows if r.check == "fp16"]
        lines, failed, numeric = checks.coreml_report(folder, manifest, stages, fp16_estimate, frames)
        click.echo("\n".join(lines))
        failures += failed
    _print_variant_tables(manifest, rows, figures, numeric)
    if failures:
        click.echo(f"FAILED: {', '.join(failures)}", err=True)
        static = manifest["formats"].get("onnx", {}).get("int8_image_encoder") == "static"
        if static and any(r.check == "onnx" and r.stage == "image_encoder" and not r.passed for r in rows):
            click.echo(
                "the static int8 image encoder rounds every convolution's activations to uint8 on ranges calibrated "
                "on frames, and verify's random images fall outside them (README, int8 image encoder modes); "
                "--int8-image-encoder dynamic keeps the int8 bar",
                err=True,
            )
        sys.exit(1)
    click.echo("all checks passed")


def _print_variant_tables(manifest: dict, rows, tracking: dict | None, coreml_rows) -> None:
    """Size beside accuracy, stage by stage, for each format of the export (variant_table)."""
    from .variant_table import markdown

    if "onnx" in manifest["formats"]:
        click.echo("\n" + markdown(manifest, "onnx", [r for r in rows if r.check == "onnx"], tracking))
    if "coreml" in manifest["formats"]:
        click.echo("\n" + markdown(manifest, "coreml", coreml_rows or []))


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
def inspect(folder: Path) -> None:
    """Show an export's stage contracts, file sizes, parameters and op counts."""
    from runtime.errors import InputError
    from runtime.manifest import load_manifest

    from .inspect import describe

    try:
        manifest = load_manifest(folder)
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(describe(folder, manifest))


@main.command()
@click.argument("paths", nargs=-1, metavar="[MODEL] VIDEO", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="output folder (replaced if from a run)")
@click.option(
    "--backend",
    type=click.Choice(["onnx", "coreml", "mlprogram", "torch"]),
    help="default: onnx for an export folder; mlprogram runs the Core ML packages with the numpy interpreter",
)
@click.option("--random-init", is_flag=True, help="synthetic torch weights instead of MODEL, for tests and demos")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the --random-init weights")
@click.option("--image-size", type=int, default=1024, hidden=True, help="--random-init model input size")
@click.option("--point", "points", multiple=True, metavar="X,Y[,LABEL]", help="click (label 1, or 0 negative); repeat")
@click.option("--box", metavar="X0,Y0,X1,Y1", help="box in frame pixels")
@click.option("--mask", type=click.Path(path_type=Path), metavar="PNG", help="non-zero pixels are the object")
@click.option("--obj", type=click.IntRange(min=0), default=1, show_default=True, help="object id of the prompt")
@click.option("--frame", type=click.IntRange(min=0), default=0, show_default=True, help="frame of the prompt")
@click.option("--prompts", "prompts_file", type=click.Path(path_type=Path), metavar="FILE.json", help="many prompts")
@click.option("--reverse", is_flag=True, help="track backwards from the (last) prompted frame")
@click.option("--max-frames", type=click.IntRange(min=1), help="track at most N frames, the prompted one included")
@click.option("--stream", is_flag=True, help="push frames one by one through the streaming session")
@click.option(
    "--trace",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="record the session (calls, stage tensors, results) for `swift run edgetam-replay DIR`",
)
@click.option("--fps", type=float, help="overlay frame rate (default: the video's; 30 for a frame folder)")
@click.option(
    "--verify-files/--no-verify-files",
    default=True,
    show_default=True,
    help="check the export's model files against the sha256 in its manifest before loading them",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
def track(
    paths,
    out,
    backend,
    random_init,
    seed,
    image_size,
    points,
    box,
    mask,
    obj,
    frame,
    prompts_file,
    verify_files,
    **options,
) -> None:
    """Track prompted objects through VIDEO (a video file or a folder of JPEG/PNG frames).

    MODEL is an export folder (onnx backend by default) or a checkpoint (torch); with --random-init it is
    left out. Prompts are in frame pixels: --point/--box/--mask for object --obj on frame --frame, or
    --prompts FILE.json, a list like [{"frame": 0, "obj": 1, "points": [[x, y]], "labels": [1],
    "box": [x0, y0, x1, y1], "mask": "m.png"}, ...]. Writes overlay.mp4, masks.npz and summary.json to --out.
    """
    from runtime.errors import InputError, SessionError

    from . import track as tracking
    from .video_io import open_video

    if len(paths) != (1 if random_init else 2):
        raise click.UsageError("give MODEL and VIDEO, or --random-init and VIDEO")
    model, video_path = (None, paths[0]) if random_init else paths
    if prompts_file is not None and (points or box is not None or mask is not None):
        raise click.UsageError("give --prompts FILE.json or --point/--box/--mask, not both")
    handled: tuple = (InputError, SessionError)
    if tracking.resolve_backend(model, backend) == "torch":
        from reference_model import CheckpointError  # the torch backend imports torch anyway

        handled += (CheckpointError,)
    try:
        if prompts_file is not None:
            prompts = tracking.read_prompts_file(prompts_file)
        else:
            parsed_box = tracking.parse_box(box) if box is not None else None
            parsed = [tracking.parse_point(p) for p in points]
            prompts = tracking.prompts_from_options(parsed, parsed_box, mask, obj, frame)
        with open_video(video_path) as video:  # all input checks run before the model is loaded
            checks = {k: options[k] for k in ("reverse", "max_frames", "stream", "fps")}
            tracking.check_inputs(prompts, video, **checks)
            tracking.check_output_dir(out)
            tracker, source = tracking.load_tracker(
                model, backend, random_init=random_init, seed=seed, image_size=image_size, verify_files=verify_files
            )
            result = tracking.track(tracker, video, prompts, out, model=source, **options)
    except handled as exc:
        raise click.ClickException(str(exc)) from exc
    summary = result.summary
    timings, weights = summary["timings"], summary["weights"] or {}
    click.echo(
        f"tracked {summary['tracking']['frames']} frames, {len({p.obj for p in prompts})} object(s) in "
        f"{timings['tracking_seconds']:.1f} s ({timings['frames_per_second']} frames/s, "
        f"{summary['model']['backend']} backend)"
    )
    if weights.get("kind") == "synthetic":
        click.echo("  (synthetic weights: the masks show that the pipeline runs, not what EdgeTAM sees)")
    click.echo(f"masks: {result.masks}\nsummary: {result.out / tracking.SUMMARY}\noverlay: {result.overlay}")


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("build/bench"),
    show_default=True,
    help="report folder: bench.json, bench.md, bench.png (replaced)",
)
@click.option("--backend", type=click.Choice(["onnx", "coreml", "mlprogram"]), default="onnx", show_default=True)
@click.option(
    "--compute-units",
    "units",
    multiple=True,
    type=click.Choice(["CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL"]),
    help="coreml: repeatable; default all four, one report folder each under --out",
)
@click.option("--runs", type=click.IntRange(min=2), default=10, show_default=True, help="timed runs per stage")
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True, help="untimed runs first")
@click.option("--frames", type=click.IntRange(min=2), default=8, show_default=True, help="tracked frames timed")
@click.option("--objects", default="1,2,4", show_default=True, help="object counts, comma-separated")
@click.option(
    "--baselines/--no-baselines",
    default=True,
    show_default=True,
    help="also time transformers' eager model and the original code (when installed)",
)
@click.option("--checkpoint", type=click.Path(path_type=Path), help="the checkpoint the export was made from")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: all cores)")
@click.option(
    "--beside",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FOLDER",
    help="onnx: other exports (e.g. int8) timed in turn with FOLDER, stage by stage and per tracked frame",
)
def bench(folder, out, backend, units, runs, warmup, frames, objects, baselines, checkpoint, threads, beside) -> None:
    """Benchmark an export folder: per stage latency, FLOPs, size and memory; per tracked frame for 1, 2 and
    4 objects; side by side with transformers' eager model and the original code. Prints the table and
    writes bench.json, bench.md and bench.png."""
    from benchmarks import baselines as base
    from benchmarks.report import markdown
    from benchmarks.run import BenchSettings, run_benchmark, write_report
    from reference_model import CheckpointError
    from runtime.errors import InputError
    from runtime.manifest import load_manifest

    try:
        counts = tuple(int(n) for n in objects.split(","))
    except ValueError:
        raise click.BadParameter(f"{objects!r} is not a list like 1,2,4", param_hint="--objects") from None
    if not counts or min(counts) < 1 or max(counts) > 6:
        raise click.BadParameter(
            "object counts must be between 1 and 6 (the clip has 6 clicks)", param_hint="--objects"
        )
    try:
        load_manifest(folder)
        if backend == "coreml":
            from benchmarks.coreml import SETTINGS, check_platform

            check_platform()
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    jobs = [(None, out)] if backend != "coreml" else [(u, out / u) for u in (units or SETTINGS)]
    for unit, target in jobs:
        settings = BenchSettings(
            folder,
            backend=backend,
            compute_units=unit,
            warmup=warmup,
            runs=runs,
            tracked_frames=frames,
            objects=counts,
            baselines=(base.TRANSFORMERS, base.ORIGINAL) if baselines else (),
            threads=threads,
            checkpoint=checkpoint,
        )
        try:
            report = run_benchmark(settings, say=click.echo)
        except (InputError, CheckpointError) as exc:
            raise click.ClickException(str(exc)) from exc
        write_report(report, target)
        click.echo("\n" + markdown(report))
        click.echo(f"wrote {target / 'bench.json'}, bench.md and bench.png")
    if beside and backend == "onnx":
        import json

        from benchmarks.variants import onnx_markdown, onnx_variants

        variants = onnx_variants([folder, *beside], runs=runs, frames=frames, threads=threads)
        (out / "variants.json").write_text(json.dumps(variants, indent=2))
        click.echo("\n" + onnx_markdown(variants))


@main.command("bench-render")
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("build/bench-render"),
    show_default=True,
    help="folder for side_by_side.md and side_by_side.png (other files in it are left alone)",
)
def bench_render(reports, out) -> None:
    """Render benchmark reports (bench.json from `bench`, `edgetam-bench` on a Mac or the iOS app) side by
    side: one Markdown table and one PNG chart, one column (colour) per report. Prints the table."""
    import os
    import tempfile

    from benchmarks import compare
    from benchmarks.schema import ReportError, load_report

    try:
        loaded = [load_report(path) for path in reports]
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    if out.exists() and not out.is_dir():
        raise click.ClickException(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    text = compare.markdown(loaded)
    fd, tmp = tempfile.mkstemp(prefix=".side_by_side.md.", dir=out)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, out / "side_by_side.md")
    compare.draw_chart(loaded, out / "side_by_side.png")
    click.echo(text)
    click.echo(f"wrote {out / 'side_by_side.md'} and side_by_side.png")
