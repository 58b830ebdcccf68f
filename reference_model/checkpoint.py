"""Loading EdgeTAM weights: the original `edgetam.pt`, a Hugging Face folder or `.safetensors`, or
synthetic weights drawn so that activations are of order one.

Loading never unpickles code (`weights_only=True` or safetensors) and never half-succeeds: missing,
unexpected and mis-shaped tensors are all listed by name in one error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from runtime.manifest import file_sha256

from .attention import LayerNorm2d
from .config import EDGETAM, EdgeTamConfig
from .edgetam import EdgeTAM
from .hf_keys import FourierCopiesDiffer, hf_to_original

# Buffers that carry no information a checkpoint must provide.
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from, as recorded in an export's manifest."""

    kind: str  # "checkpoint" or "synthetic"
    format: str | None = None  # "original", "huggingface"
    path: str | None = None
    sha256: str | None = None
    seed: int | None = None
    feature_scale: float | None = None  # synthetic weights with late-stage activations scaled (see synthetic_model)

    def describe(self) -> str:
        if self.kind == "synthetic":
            scale = f", late-stage features ×{self.feature_scale:g}" if self.feature_scale else ""
            return f"synthetic, seed {self.seed}{scale}"
        return f"{self.format} checkpoint {self.path} (sha256 {self.sha256})"

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def load_model(path: str | Path, cfg: EdgeTamConfig = EDGETAM) -> tuple[EdgeTAM, WeightsInfo]:
    """Build EdgeTAM from a checkpoint in any supported format; returns the model in eval mode."""
    path = Path(path)
    state, fmt, weights_file = read_state_dict(path)
    model = EdgeTAM(cfg)
    load_state_dict_strict(model, state, source=str(path))
    info = WeightsInfo("checkpoint", fmt, str(path), file_sha256(weights_file))
    return model.eval(), info


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str, Path]:
    """→ (state dict under the original names, format name, the file that holds the tensors)."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise CheckpointError(
                f"{path} is a folder but has no model.safetensors; a Hugging Face checkpoint folder holds "
                "config.json and model.safetensors (from save_pretrained)"
            )
        _check_hf_config(path / "config.json")
        return _from_hf(_read_safetensors(weights), weights), "huggingface", weights
    if path.suffix == ".safetensors":
        state = _read_safetensors(path)
        if any(k.startswith("image_encoder.trunk.body.") for k in state):
            return state, "original", path
        return _from_hf(state, path), "huggingface", path
    return _read_torch_checkpoint(path), "original", path


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises several types for a damaged header
        raise CheckpointError(f"cannot read {path} as safetensors: {exc}") from exc


def _read_torch_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(_torch_load_problem(path, exc)) from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path} does not hold a state dict: expected {{'model': {{name: tensor}}}} as the original "
            "edgetam.pt, or a plain {name: tensor} mapping"
        )
    return obj


def _torch_load_problem(path: Path, exc: Exception) -> str:
    """What is wrong with a file torch.load refused, in one sentence (torch's own text advises loading
    with weights_only=False, which would run whatever code the file pickles: never show it)."""
    text = str(exc)
    found = re.search(r"GLOBAL (\S+)", text)
    if found:
        return (
            f"{path} holds Python objects besides tensors (it pickles {found.group(1)}), which would run code "
            "when unpickled; this toolkit refuses them. Save the tensors alone: "
            "torch.save({'model': model.state_dict()}, path)"
        )
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)\n", text)
    if detail:
        return (
            f"cannot read {path} as a PyTorch checkpoint: it is damaged, not a checkpoint, or pickles something "
            f"other than tensors ({detail.group(1).strip()}; it is read with weights_only=True, so no code in a "
            "file ever runs); download or save it again"
        )
    first = text.split(". ")[0].strip() or type(exc).__name__
    return (
        f"cannot read {path} as a PyTorch checkpoint: the file is truncated, damaged or not a checkpoint "
        f"({first}); download or save it again"
    )


def _check_hf_config(config_path: Path) -> None:
    if not config_path.is_file():
        raise CheckpointError(f"{config_path.parent} has model.safetensors but no config.json")
    try:
        config = json.loads(config_path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{config_path} is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(config, dict):
        kind = type(config).__name__
        raise CheckpointError(f"{config_path} must hold a JSON object (the model's config); got a {kind}")
    model_type = config.get("model_type")
    if model_type not in (None, "edgetam_video", "edgetam"):
        raise CheckpointError(f"{config_path} describes model_type {model_type!r}; this toolkit loads EdgeTAM")


def _from_hf(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    try:
        return hf_to_original(state)
    except KeyError as exc:
        raise CheckpointError(f"{path}: {exc.args[0] if exc.args else exc}") from exc
    except FourierCopiesDiffer as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def load_state_dict_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load all tensors by name, or raise one error listing every missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state and not k.endswith(_OPTIONAL_SUFFIXES))
    unexpected = sorted(k for k in state if k not in expected)
    mismatched = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in state
        if k in expected and state[k].shape != expected[k].shape
    )
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {_listing(mismatched)}")
    problems += _value_problems(state, expected)
    if problems:
        raise CheckpointError(
            f"{source} does not match EdgeTAM: "
            + "; ".join(problems)
            + ". Is this an EdgeTAM checkpoint (edgetam.pt, or a Hugging Face EdgeTAM folder)?"
        )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)


def _value_problems(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> list[str]:
    """Tensors whose values a model cannot use: not floating point where the model's are, or NaN/Inf."""
    wrong_dtype = sorted(
        f"{k}: {state[k].dtype}"
        for k in state
        if k in expected and expected[k].is_floating_point() and not state[k].is_floating_point()
    )
    non_finite = sorted(
        k for k, v in state.items() if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all())
    )
    problems = []
    if wrong_dtype:
        problems.append(f"{len(wrong_dtype)} tensors are not floating point: {_listing(wrong_dtype)}")
    if non_finite:
        problems.append(f"{len(non_finite)} tensors hold NaN or infinite values: {_listing(non_finite)}")
    return problems


def _listing(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def synthetic_model(
    seed: int = 0, cfg: EdgeTamConfig = EDGETAM, feature_scale: float = 1.0
) -> tuple[EdgeTAM, WeightsInfo]:
    """EdgeTAM with seeded weights whose activations are of order one (see `order_one_`).

    feature_scale: multiplies the trunk's activations from stride 16 on (see `scale_late_stages_`), as
    trained convnets' late stages often run in the hundreds or thousands — the case float16 exports must
    survive. Recorded in the WeightsInfo when it is not 1."""
    model = EdgeTAM(cfg)
    order_one_(model, seed)
    calibrate_batch_norms_(model.image_encoder.trunk.body, seed)
    if feature_scale != 1.0:
        scale_late_stages_(model.image_encoder.trunk.body, feature_scale)
    info = WeightsInfo("synthetic", seed=seed, feature_scale=None if feature_scale == 1.0 else float(feature_scale))
    return model.eval(), info


@torch.no_grad()
def scale_late_stages_(trunk: nn.Module, factor: float) -> None:
    """Multiply the stride-16 stage's input by `factor`: the batch norm closing its downsampling
    projection (`stages_2.downsample.channel_downsample`) is scaled. The calibrated batch norms after it
    keep their statistics, so every later block works on ~factor× larger values and the residual streams
    at strides 16 and 32 grow by about that much (as a trained network's may)."""
    bn = trunk.stages_2.downsample.channel_downsample.bn
    bn.weight.mul_(factor)
    bn.bias.mul_(factor)


@torch.no_grad()
def order_one_(model: nn.Module, seed: int) -> None:
    """Re-draw every tensor in place so that a forward pass exercises every part of the network.

    Default initializations make activations tiny, and then any two implementations agree to 1e-4.
    Recipe: matrices and kernels N(0, 1/fan_in); norm weights 1 + 0.1·N; biases 0.1·N; embeddings,
    latents and other learned tensors 0.5·N; batch-norm running mean 0.1·N, running var 1 + 0.1·|N|;
    the prompt encoder's random-Fourier matrix N(0, 1) as in its own initialization.
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(t: torch.Tensor, std: float = 1.0, mean: float = 0.0) -> None:
        t.copy_(torch.randn(t.shape, generator=gen) * std + mean)

    done: set[int] = set()
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            w = module.weight
            if isinstance(module, nn.ConvTranspose2d):
                # Each output sums in_channels · (k/stride)² inputs.
                taps = w.shape[2] * w.shape[3] // (module.stride[0] * module.stride[1])
                fan_in = w.shape[0] * max(taps, 1)
            else:
                fan_in = w[0].numel()
            normal(w, fan_in**-0.5)
            if module.bias is not None:
                normal(module.bias, 0.1)
        elif isinstance(module, (nn.LayerNorm, LayerNorm2d, nn.BatchNorm2d)):
            normal(module.weight, 0.1, 1.0)
            normal(module.bias, 0.1)
            if isinstance(module, nn.BatchNorm2d):
                normal(module.running_mean, 0.1)
                module.running_var.copy_(1 + 0.1 * torch.randn(module.running_var.shape, generator=gen).abs())
        elif isinstance(module, nn.Embedding):
            normal(module.weight, 0.5)
        else:
            continue
        done.update(id(p) for p in module.parameters(recurse=False))
    for p in model.parameters():
        if id(p) not in done:
            normal(p, 0.5)
    for name, b in model.named_buffers():
        if name.endswith("positional_encoding_gaussian_matrix"):
            normal(b)


@torch.no_grad()
def calibrate_batch_norms_(module: nn.Module, seed: int, size: int = 256) -> None:
    """Set every batch norm's running statistics to those of its input on a seeded random image.

    With drawn weights and unit running variance the RepViT trunk's residual stream grows to ~1e5 by
    stride 16 (beyond float16's range, and attention saturates); a trained network's batch norms
    normalize, and calibrated statistics make the synthetic one do the same.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [(m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
        m.train()
    gen = torch.Generator().manual_seed(seed + 1)
    image = torch.nn.functional.interpolate(torch.randn(2, 3, size // 16, size // 16, generator=gen), size=size)
    module(image + 0.3 * torch.randn(2, 3, size, size, generator=gen))
    for m, (momentum, training) in zip(norms, saved):
        m.momentum = momentum
        m.train(training)
