"""`edgetam-export`: the toolkit's command line (a click group; one command per job)."""

from __future__ import annotations

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
