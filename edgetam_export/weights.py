"""Choosing weights on the command line: a checkpoint, or synthetic weights with a seed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click


def weights_options(command: Callable) -> Callable:
    """Adds --checkpoint / --random-init / --seed / --feature-scale and passes
    `weights=(path or None, seed, feature_scale)`."""

    @click.option("--checkpoint", type=click.Path(path_type=Path), help="edgetam.pt, an HF folder or .safetensors")
    @click.option("--random-init", is_flag=True, help="synthetic weights (order-one activations), for testing")
    @click.option("--seed", type=int, default=0, show_default=True, help="seed of the synthetic weights")
    @click.option(
        "--feature-scale",
        type=click.FloatRange(min=0, min_open=True),
        default=1.0,
        help="synthetic weights: scale the trunk's activations from stride 16 on (3: std ~250, 8: ~700), "
        "as a trained network's may be, to test float16 exports",
    )
    @functools.wraps(command)
    def wrapper(*args, checkpoint: Path | None, random_init: bool, seed: int, feature_scale: float, **kwargs):
        if (checkpoint is None) == (not random_init):
            raise click.UsageError("give exactly one of --checkpoint PATH or --random-init")
        if checkpoint is not None and feature_scale != 1.0:
            raise click.UsageError("--feature-scale draws synthetic weights; use it with --random-init")
        return command(*args, weights=(checkpoint, seed, feature_scale), **kwargs)

    return wrapper


def load_weights(weights: tuple, config=None):
    """weights: (path or None, seed[, feature_scale]) → (EdgeTAM model, WeightsInfo); checkpoint errors
    become click errors naming the problem."""
    from reference_model import EDGETAM, CheckpointError, load_model, synthetic_model

    path, seed, *rest = weights
    config = config or EDGETAM
    if path is None:
        return synthetic_model(seed, config, rest[0] if rest else 1.0)
    try:
        return load_model(path, config)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc


def export_source_model(manifest: dict, checkpoint: Path | None = None):
    """The torch model an export was made from: its synthetic seed, or its checkpoint (`checkpoint`, else
    the path the manifest records), checked against the recorded sha256. Errors (InputError,
    CheckpointError) name the problem and the fix."""
    from reference_model import EdgeTamConfig, load_model, synthetic_model
    from runtime.errors import InputError

    config = EdgeTamConfig.from_dict(manifest["model"]["config"])
    weights = manifest["weights"]
    if checkpoint is None and weights.get("kind") == "synthetic":
        return synthetic_model(weights.get("seed", 0), config, weights.get("feature_scale") or 1.0)[0]
    recorded = Path(weights["path"]) if weights.get("path") else None
    path = checkpoint or recorded
    if path is None or not path.exists():
        raise InputError(f"this export was made from {weights.get('path')}: pass --checkpoint PATH")
    model, info = load_model(path, config)
    if weights.get("sha256") not in (None, info.sha256):
        raise InputError(f"{path} (sha256 {info.sha256}) is not the checkpoint this export was made from")
    return model
