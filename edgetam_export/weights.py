"""Choosing weights on the command line: a checkpoint, or synthetic weights with a seed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click


def weights_options(command: Callable) -> Callable:
    """Adds --checkpoint / --random-init / --seed and passes `weights=(path or None, seed)`."""

    @click.option("--checkpoint", type=click.Path(path_type=Path), help="edgetam.pt, an HF folder or .safetensors")
    @click.option("--random-init", is_flag=True, help="synthetic weights (order-one activations), for testing")
    @click.option("--seed", type=int, default=0, show_default=True, help="seed of the synthetic weights")
    @functools.wraps(command)
    def wrapper(*args, checkpoint: Path | None, random_init: bool, seed: int, **kwargs):
        if (checkpoint is None) == (not random_init):
            raise click.UsageError("give exactly one of --checkpoint PATH or --random-init")
        return command(*args, weights=(checkpoint, seed), **kwargs)

    return wrapper


def load_weights(weights: tuple[Path | None, int], config=None):
    """→ (EdgeTAM model, WeightsInfo); checkpoint errors become click errors naming the problem."""
    from reference_model import EDGETAM, CheckpointError, load_model, synthetic_model

    path, seed = weights
    config = config or EDGETAM
    if path is None:
        return synthetic_model(seed, config)
    try:
        return load_model(path, config)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
