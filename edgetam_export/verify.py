"""Checking an export folder against the torch reference: stage by stage, end to end, and in float16.

Bars (the export issue's): ONNX fp32 stage outputs max |diff|/std ≤ 1e-3; tracking through the exported
graphs min IoU ≥ 0.99 against the torch runtime; float16 stage outputs PSNR ≥ 35 dB and cosine ≥ 0.999
against float32 (estimated by running the reference stages in float16 where Core ML cannot run);
Core ML packages structurally equal to the registry.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reference_model import EdgeTAM, Stages
from runtime.contract import STAGES, model_sizes

from .clip import synthetic_clip
from .examples import example_inputs
from .metrics import cosine, iou, psnr, rel_diff

ONNX_MAX_REL = 1e-3
MIN_IOU = 0.99
FP16_MIN_PSNR = 35.0
FP16_MIN_COSINE = 0.999
INT8_MIN_COSINE = 0.99  # int8 ONNX stages (onnx_int8): every output's cosine against float32
# Batch and capacity sizes the stages are checked at (ONNX keeps them dynamic: check two settings).
CHECK_SIZES = ({"B": 1, "K": 1, "N": 1, "P": 1}, {"B": 2, "K": 3, "N": 7, "P": 5})


@dataclass
class Row:
    check: str  # "onnx", "fp16", "coreml"
    stage: str
    output: str
    rel_diff: float
    cosine: float
    psnr: float
    passed: bool


def _outputs(module, stage: str, inputs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = module(*[inputs[n] for n in STAGES[stage].input_names])
    out = (out,) if isinstance(out, torch.Tensor) else out
    return {n: o.float().numpy() for n, o in zip(STAGES[stage].output_names, out, strict=True)}


def compare_stages(check: str, run, stages: Stages, sizes: dict, settings, passes) -> list[Row]:
    """Run every stage's example inputs through `run(stage, numpy inputs)` and the torch stage."""
    rows = []
    for stage in STAGES:
        worst: dict[str, list[float]] = {}
        for i, setting in enumerate(settings):
            inputs = example_inputs(stage, {**sizes, **setting}, seed=100 + i)
            ref = _outputs(getattr(stages, stage), stage, inputs)
            got = run(stage, {k: v.numpy() for k, v in inputs.items()})
            for name, r in ref.items():
                scale = max(float(np.abs(r).mean()), 1e-6)  # single scores: judged relative to their size
                figures = [rel_diff(got[name], r, min_std=scale), cosine(got[name], r), psnr(got[name], r)]
                prev = worst.get(name)
                worst[name] = (
                    figures
                    if prev is None
                    else [max(prev[0], figures[0]), min(prev[1], figures[1]), min(prev[2], figures[2])]
                )
        rows += [Row(check, stage, name, *f, passes(*f)) for name, f in worst.items()]
    return rows


def verify_onnx(folder: Path, stages: Stages, precision: str = "fp32") -> list[Row]:
    from runtime.backends.onnx import OnnxBackend

    backend = OnnxBackend.from_folder(folder)
    sizes = model_sizes(backend.config)
    if precision == "fp16":
        bar = lambda r, c, p: p >= FP16_MIN_PSNR and c >= FP16_MIN_COSINE  # noqa: E731
    elif precision == "int8":
        bar = lambda r, c, p: c >= INT8_MIN_COSINE  # noqa: E731
    else:
        bar = lambda r, c, p: r <= ONNX_MAX_REL  # noqa: E731
    return compare_stages("onnx", backend.run, stages, sizes, CHECK_SIZES, bar)


def fp16_estimate(stages: Stages) -> list[Row]:
    """The reference stages run in float16 against float32 (what Core ML's default precision changes)."""
    half = copy.deepcopy(stages).half()

    def run(stage, inputs):
        tensors = {k: torch.from_numpy(v).half() for k, v in inputs.items()}
        return _outputs(getattr(half, stage), stage, tensors)

    sizes = model_sizes(stages.cfg.to_dict())
    return compare_stages(
        "fp16", run, stages, sizes, CHECK_SIZES[1:], lambda r, c, p: p >= FP16_MIN_PSNR and c >= FP16_MIN_COSINE
    )


def tracking_iou(folder: Path, model: EdgeTAM, backend: str = "onnx", frames: int = 4) -> dict:
    """Two objects (a click, a box) tracked forward then in reverse on a generated clip, through the
    export and through the torch stages: IoU per frame and object."""
    from reference_model import WeightsInfo
    from runtime import Tracker
    from runtime.backends import load_backend
    from runtime.backends.torch import TorchBackend

    h, w = 360, 640
    clip = synthetic_clip(frames, h, w)
    results = []
    for tracker in (Tracker(load_backend(folder, backend)), Tracker(TorchBackend(model, WeightsInfo("synthetic")))):
        session = tracker.start(clip)
        session.add_prompt(frames // 2, 1, points=[[0.45 * w, 0.35 * h]], labels=[1])
        session.add_prompt(frames // 2, 2, box=[0.53 * w, 0.18 * h, 0.77 * w, 0.6 * h])
        masks = [r.mask_logits for r in session.propagate()] + [r.mask_logits for r in session.propagate(reverse=True)]
        results.append(masks)
    ious = [iou(a[j], b[j]) for a, b in zip(*results) for j in range(len(a))]
    return {
        "frames": len(results[0]),
        "min_iou": min(ious),
        "mean_iou": float(np.mean(ious)),
        "passed": min(ious) >= MIN_IOU,
    }


def verify_coreml_structure(folder: Path, manifest: dict) -> list[str]:
    from .to_coreml import check_package

    section = manifest["formats"]["coreml"]
    sizes = {**model_sizes(manifest["model"]["config"]), **{k: v for k, v in section["capacities"].items() if k != "B"}}
    problems = []
    for stage, entry in section["stages"].items():
        problems += [f"{stage}: {p}" for p in check_package(folder / entry["file"], STAGES[stage], sizes)]
    return problems


def coreml_numeric(folder: Path, stages: Stages) -> list[Row] | None:
    """Core ML predictions against torch, on macOS only (None elsewhere)."""
    if sys.platform != "darwin":
        return None
    from runtime.backends.coreml import CoreMLBackend

    backend = CoreMLBackend.from_folder(folder)
    sizes = {**model_sizes(backend.config), **backend.capacities}
    setting = {"B": 1, "K": sizes["K"], "N": sizes["N"], "P": sizes["P"]}
    return compare_stages(
        "coreml", backend.run, stages, sizes, [setting], lambda r, c, p: p >= FP16_MIN_PSNR and c >= FP16_MIN_COSINE
    )
