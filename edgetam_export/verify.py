"""Checking an export folder against the torch reference: stage by stage, end to end, and in float16.

Bars (the export issue's): ONNX fp32 stage outputs max |diff|/std ≤ 1e-3; tracking through the exported
graphs min IoU ≥ 0.99 against the torch runtime; float16 stage outputs PSNR ≥ 35 dB and cosine ≥ 0.999
against float32; Core ML packages structurally equal to the registry.

Core ML numerics are measured on every platform: the packages' ML Programs run through the toolkit's
interpreter (`runtime.mlprogram`, float16 tensors stored as float16 after every op) against the torch
stages — float32 programs within 1e-4 max |diff|/std, float16 programs at the float16 bars — and tracking
through the Core ML packages is compared with the ONNX export when both are present. The float16 estimate
(the reference stages run in float16 by torch) is printed beside the measured figure. On macOS, Core ML
itself is also compared with torch and with the interpreter.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
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
COREML_FP32_MAX_REL = 1e-4  # float32 ML Program (through the interpreter) vs torch
MIN_IOU = 0.99
FP16_MIN_PSNR = 35.0
FP16_MIN_COSINE = 0.999
INT8_MIN_COSINE = 0.99  # int8 ONNX stages (onnx_int8): every output's cosine against float32
# Batch and capacity sizes the stages are checked at (ONNX keeps them dynamic: check two settings).
CHECK_SIZES = ({"B": 1, "K": 1, "N": 1, "P": 1}, {"B": 2, "K": 3, "N": 7, "P": 5})
# An object score within this of 0 (present/absent) is a coin toss for any rounding, and its flip replaces
# the masks and the pointer: examples that close measure the threshold, not the numerics, so the mask
# decoder is checked on examples clear of it. Synthetic weights score |0.21| (median); 13 % of their
# objects fall inside 0.05; int8 moved one score by 0.014.
DECISION_MARGIN = 0.05


@dataclass
class Row:
    check: str  # "onnx", "fp16", "coreml"
    stage: str
    output: str
    rel_diff: float
    cosine: float
    psnr: float
    passed: bool

    @property
    def figures(self) -> str:
        """Stage, output and figures in the columns every verify table uses."""
        return f"{self.stage:<17} {self.output:<20} {self.rel_diff:10.2e} {self.cosine:9.6f} {self.psnr:8.1f}"

    @property
    def mark(self) -> str:
        """What a table line ends with: nothing, or FAIL below the bar."""
        return "" if self.passed else "  FAIL"

    @property
    def failure(self) -> str:
        """The row's name in verify's closing list of failures."""
        return f"{self.check} {self.stage}.{self.output}"


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
            inputs, ref = clear_examples(stages, stage, {**sizes, **setting}, seed=100 + i)
            got = run(stage, {k: v.numpy() for k, v in inputs.items()})
            for name, r in ref.items():
                figures = _figures(got[name], r)
                prev = worst.get(name)
                worst[name] = (
                    figures
                    if prev is None
                    else [max(prev[0], figures[0]), min(prev[1], figures[1]), min(prev[2], figures[2])]
                )
        rows += [Row(check, stage, name, *f, passes(*f)) for name, f in worst.items()]
    return rows


def _figures(got: np.ndarray, ref: np.ndarray) -> list[float]:
    """[max |diff|/std, cosine, PSNR] of one output; single scores are judged relative to their size."""
    scale = max(float(np.abs(ref).mean()), 1e-6)
    return [rel_diff(got, ref, min_std=scale), cosine(got, ref), psnr(got, ref)]


def clear_examples(stages: Stages, stage: str, sizes: dict, seed: int, tries: int = 20) -> tuple[dict, dict]:
    """Example inputs for `stage` and the torch stage's outputs on them: the first draw (seeds `seed`,
    `seed` + 1000, …) whose object scores are all DECISION_MARGIN clear of the present/absent threshold."""
    for attempt in range(tries):
        inputs = example_inputs(stage, sizes, seed=seed + 1000 * attempt)
        ref = _outputs(getattr(stages, stage), stage, inputs)
        scores = ref.get("object_score_logits")
        if scores is None or float(np.abs(scores).min()) >= DECISION_MARGIN:
            return inputs, ref
    raise RuntimeError(f"{tries} example draws for {stage} all put an object score within {DECISION_MARGIN} of 0")


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
    """The reference stages run in float16 against float32 (what Core ML's default precision changes),
    prepared as the float16 exports are: weight folds computed once in float64 (`export.float16_stages`),
    squeeze-excite gates in float32 (`float16_safe`)."""
    from reference_model.attention import float16_safe

    from .export import float16_stages

    half = float16_stages(stages)

    def run(stage, inputs):
        tensors = {k: torch.from_numpy(v).half() for k, v in inputs.items()}
        module = getattr(half, stage)
        with float16_safe(module):
            return _outputs(module, stage, tensors)

    sizes = model_sizes(stages.cfg.to_dict())
    return compare_stages(
        "fp16", run, stages, sizes, CHECK_SIZES[1:], lambda r, c, p: p >= FP16_MIN_PSNR and c >= FP16_MIN_COSINE
    )


def tracked_masks(backend, frames: int) -> list[np.ndarray]:
    """Two objects (a click, a box) prompted mid-clip, tracked forward then in reverse on a generated clip."""
    from runtime import Tracker

    h, w = 360, 640
    clip = synthetic_clip(frames, h, w)
    session = Tracker(backend).start(clip)
    session.add_prompt(frames // 2, 1, points=[[0.45 * w, 0.35 * h]], labels=[1])
    session.add_prompt(frames // 2, 2, box=[0.53 * w, 0.18 * h, 0.77 * w, 0.6 * h])
    return [r.mask_logits for r in session.propagate()] + [r.mask_logits for r in session.propagate(reverse=True)]


def tracking_iou(folder: Path, model: EdgeTAM, backend: str = "onnx", frames: int = 4) -> dict:
    """Two objects tracked forward then in reverse on a generated clip, through the export and through
    the torch stages: IoU per frame and object."""
    from reference_model import WeightsInfo
    from runtime.backends import load_backend
    from runtime.backends.torch import TorchBackend

    reference = TorchBackend(model, WeightsInfo("synthetic"))
    return iou_figures([tracked_masks(load_backend(folder, backend), frames), tracked_masks(reference, frames)])


def tracking_iou_between(folder: Path, backend: str, reference: str, frames: int = 4) -> dict:
    """The same tracking through two backends of one export folder (e.g. mlprogram against onnx)."""
    from runtime.backends import load_backend

    runs = [tracked_masks(load_backend(folder, name), frames) for name in (backend, reference)]
    return iou_figures(runs)


def iou_figures(results: list[list[np.ndarray]]) -> dict:
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


def _coreml_bar(precision: str) -> Callable[[float, float, float], bool]:
    if precision == "fp32":
        return lambda r, c, p: r <= COREML_FP32_MAX_REL
    return lambda r, c, p: p >= FP16_MIN_PSNR and c >= FP16_MIN_COSINE


def _coreml_settings(capacities: dict) -> list[dict]:
    """Core ML fixes K, N, P at the export's capacities; two objects per call also checks the batching."""
    return [{"B": 2, **{k: v for k, v in capacities.items() if v is not None}}]


def verify_coreml_measured(folder: Path, stages: Stages, seconds: dict[str, float] | None = None) -> list[Row]:
    """The Core ML packages' ML Programs, run by the interpreter, against the torch stages (any platform).
    seconds: receives the interpreter's time per stage (one call of two objects)."""
    from runtime.backends.mlprogram import MLProgramBackend

    backend = MLProgramBackend.from_folder(folder)
    sizes = {**model_sizes(backend.config), **backend.capacities}

    def run(stage: str, inputs: dict) -> dict:
        start = time.perf_counter()
        out = backend.run(stage, inputs)
        if seconds is not None:
            seconds[stage] = time.perf_counter() - start
        return out

    settings = _coreml_settings(backend.capacities)
    return compare_stages("mlprogram", run, stages, sizes, settings, _coreml_bar(backend.precision or "fp16"))


def coreml_numeric(folder: Path, stages: Stages) -> list[Row] | None:
    """Core ML predictions against torch, on macOS only (None elsewhere)."""
    if sys.platform != "darwin":
        return None
    from runtime.backends.coreml import CoreMLBackend

    backend = CoreMLBackend.from_folder(folder)
    sizes = {**model_sizes(backend.config), **backend.capacities}
    precision = _section_precision(folder)
    return compare_stages(
        "coreml", backend.run, stages, sizes, _coreml_settings(backend.capacities), _coreml_bar(precision)
    )


def coreml_vs_interpreter(folder: Path, stages: Stages) -> list[Row] | None:
    """Core ML itself against the interpreter on the same inputs (clear_examples), per stage (macOS only;
    None elsewhere)."""
    if sys.platform != "darwin":
        return None
    from runtime.backends.coreml import CoreMLBackend
    from runtime.backends.mlprogram import MLProgramBackend

    core, interpreted = CoreMLBackend.from_folder(folder), MLProgramBackend.from_folder(folder)
    sizes = {**model_sizes(core.config), **core.capacities}
    rows = []
    for stage in core.contracts:
        for setting in _coreml_settings(core.capacities):
            examples, _ = clear_examples(stages, stage, {**sizes, **setting}, seed=100)
            inputs = {k: v.numpy() for k, v in examples.items()}
            ref, got = interpreted.run(stage, inputs), core.run(stage, inputs)
            for name, r in ref.items():
                figures = _figures(got[name], r)
                passed = figures[2] >= FP16_MIN_PSNR and figures[1] >= FP16_MIN_COSINE
                rows.append(Row("coreml~interp", stage, name, *figures, passed))
    return rows


def _section_precision(folder: Path) -> str:
    from runtime.manifest import load_manifest

    return load_manifest(folder)["formats"]["coreml"].get("precision", "fp16")


def coreml_report(
    folder: Path, manifest: dict, stages: Stages, estimate: list[Row], frames: int
) -> tuple[list[str], list[str], list[Row]]:
    """Measured Core ML numerics for `verify`: (lines to print, failures, the measured rows).

    Stages with compressed weights are measured and reported (the size-beside-accuracy table), not held to
    the float16 bars: their accuracy is the preset's trade, chosen from that table."""
    precision = manifest["formats"]["coreml"].get("precision", "fp16")
    compressed = manifest["formats"]["coreml"].get("compression", {}).get("stages", {})
    bar = (
        f"max|d|/std ≤ {COREML_FP32_MAX_REL:g}"
        if precision == "fp32"
        else f"PSNR ≥ {FP16_MIN_PSNR:g} dB, cosine ≥ {FP16_MIN_COSINE}"
    )
    seconds: dict[str, float] = {}
    measured = verify_coreml_measured(folder, stages, seconds)
    guess = {(r.stage, r.output): r for r in estimate}
    lines = [
        f"coreml {precision} programs vs torch, measured in the programs (numpy ML Program interpreter; bar {bar}); "
        "beside: the torch-fp16 estimate",
        f"  {'stage':<17} {'output':<20} {'max|d|/std':>10} {'cosine':>9} {'PSNR dB':>8}   "
        f"{'estimate PSNR / cosine':>23}  interp s",
    ]
    failures = []
    for r in measured:
        g = guess.get((r.stage, r.output))
        est = f"{g.psnr:8.1f} / {g.cosine:.6f}" if g else ""
        preset = compressed.get(r.stage, "none")
        if preset != "none":
            r.passed = True  # reported, not barred (see the docstring)
        mark = r.mark + (f"  ({preset} weights: reported)" if preset != "none" else "")
        lines.append(f"  {r.figures}   {est:>23}  {seconds.get(r.stage, 0.0):8.1f}{mark}")
        if not r.passed:
            failures.append(f"coreml {r.stage}.{r.output}")
    if "onnx" in manifest["formats"]:
        figures = tracking_iou_between(folder, "mlprogram", "onnx", frames)
        barred = precision == "fp32" and manifest["formats"]["onnx"]["precision"] == "fp32"
        lines.append(
            f"tracking (coreml packages through the interpreter vs onnx, {figures['frames']} frames, 2 objects, "
            f"forward + reverse): min IoU {figures['min_iou']:.4f}, mean {figures['mean_iou']:.4f}"
            + ("" if barred else " (reported)")
        )
        if barred and not figures["passed"]:
            failures.append("coreml tracking IoU vs onnx")
    for rows, what in (
        (coreml_numeric(folder, stages), "Core ML vs torch"),
        (coreml_vs_interpreter(folder, stages), "Core ML vs interpreter"),
    ):
        if rows is None:
            continue
        lines.append(f"{what} (this Mac's Core ML, compute units ALL):")
        for r in rows:
            lines.append(f"  {r.figures}{r.mark}")
            if not r.passed:
                failures.append(r.failure)
    return lines, failures, measured
