"""`edgetam-export`: the toolkit's command line (a click group; one command per job)."""

from __future__ import annotations

from pathlib import Path

import click

from .weights import load_weights, weights_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--precision", type=click.Choice(["fp16", "fp32"]), help="default: fp16 for Core ML, fp32 for ONNX")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="export folder")
@click.option("--cond-slots", type=int, default=4, show_default=True, help="Core ML: conditioning memories attended")
@click.option("--point-slots", type=int, default=16, show_default=True, help="Core ML: points per object and call")
@click.option("--image-size", type=int, default=1024, show_default=True, hidden=True)
def export(weights, formats, precision, out, cond_slots, point_slots, image_size) -> None:
    """Export the stages to ONNX and/or Core ML with a manifest.json."""
    from reference_model import EdgeTamConfig

    from .export import FORMATS, ExportError, ExportOptions, export_all

    chosen = FORMATS if "all" in formats else tuple(dict.fromkeys(formats))
    options = ExportOptions(
        formats=chosen,
        precision={f: precision for f in chosen} if precision else None,
        cond_slots=cond_slots,
        point_slots=point_slots,
    )
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
        click.echo(f"{fmt}: {len(section['stages'])} stages, {total / 1e6:.1f} MB, {section['precision']}")
    click.echo(f"wrote {out / 'manifest.json'}")


def _reference_for(manifest: dict, checkpoint: Path | None):
    """The torch model an export was made from: its synthetic seed, or the checkpoint given (sha256-checked)."""
    from reference_model import EdgeTamConfig, synthetic_model

    config = EdgeTamConfig.from_dict(manifest["model"]["config"])
    weights = manifest["weights"]
    if weights.get("kind") == "synthetic" and checkpoint is None:
        return synthetic_model(weights.get("seed", 0), config)[0]
    if checkpoint is None:
        raise click.UsageError(f"this export was made from {weights.get('path')}: pass --checkpoint PATH to verify")
    model, info = load_weights((checkpoint, 0), config)
    if weights.get("sha256") not in (None, info.sha256):
        raise click.ClickException(
            f"{checkpoint} (sha256 {info.sha256}) is not the checkpoint this export was made from"
        )
    return model


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path), help="the checkpoint the export was made from")
@click.option("--frames", type=int, default=4, show_default=True, help="clip length of the tracking check")
def verify(folder: Path, checkpoint: Path | None, frames: int) -> None:
    """Check an export against the torch reference; exit status 1 below the bars."""
    import sys

    from reference_model import Stages
    from runtime.errors import InputError
    from runtime.manifest import load_manifest

    from . import verify as checks

    try:
        manifest = load_manifest(folder)
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    model = _reference_for(manifest, checkpoint)
    stages = Stages(model).eval()
    rows, failures = [], []
    if "onnx" in manifest["formats"]:
        rows += checks.verify_onnx(folder, stages, manifest["formats"]["onnx"]["precision"])
    rows += checks.fp16_estimate(stages)
    click.echo(f"{'check':<7} {'stage':<17} {'output':<20} {'max|d|/std':>10} {'cosine':>9} {'PSNR dB':>8}")
    for r in rows:
        mark = "" if r.passed else "  FAIL"
        click.echo(f"{r.check:<7} {r.stage:<17} {r.output:<20} {r.rel_diff:10.2e} {r.cosine:9.6f} {r.psnr:8.1f}{mark}")
        if not r.passed:
            failures.append(f"{r.check} {r.stage}.{r.output}")
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
        numeric = checks.coreml_numeric(folder, stages)
        if numeric is None:
            click.echo("coreml numeric checks: skipped (Core ML models execute only on macOS)")
        else:
            failures += [f"coreml {r.stage}.{r.output}" for r in numeric if not r.passed]
    if failures:
        click.echo(f"FAILED: {', '.join(failures)}", err=True)
        sys.exit(1)
    click.echo("all checks passed")


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
