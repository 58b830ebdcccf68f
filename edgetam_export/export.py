"""Exporting every stage to the chosen formats, with a manifest, atomically.

Everything is written to a staging folder beside the target and swapped into place at the end, so a
failed export leaves the previous export (or nothing) behind, never a half-written one.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from reference_model import EdgeTAM, Stages, WeightsInfo
from reference_model.attention import float16_safe, fused_attention
from reference_model.backbone import fold_constants_
from runtime.contract import STAGES, contract, model_sizes
from runtime.manifest import FORMAT_VERSION, MANIFEST, sha256_file
from runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
from runtime.staging import staged_folder

from . import __version__
from .coreml_compression import CompressionPlan
from .examples import TRACE_SIZES, example_inputs

FORMATS = ("onnx", "coreml")
# ONNX attention: onnxruntime's fused com.microsoft.MultiHeadAttention kernel for memory attention, or standard
# ops only (MatMul, Softmax) for other ONNX runtimes.
ONNX_ATTENTION = ("onnxruntime", "standard")
DEFAULT_PRECISION = {"onnx": "fp32", "coreml": "fp16"}
PRECISIONS = {"onnx": ("fp32", "fp16", "int8"), "coreml": ("fp16", "fp32")}
INT8_IMAGE_ENCODER_MODES = ("dynamic", "weights", "static")  # onnx_int8.IMAGE_ENCODER_METHODS; first: default


class ExportError(RuntimeError):
    """An export that cannot proceed; the message names the problem."""


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...] = FORMATS
    precision: dict[str, str] | None = None  # per format; defaults DEFAULT_PRECISION
    cond_slots: int = 4  # Core ML: conditioning memories attended (the K temporally closest)
    point_slots: int = 16  # Core ML: points per object and call (a box counts as two)
    max_objects: int = 8  # Core ML: objects per call
    onnx_attention: str = "onnxruntime"  # one of ONNX_ATTENTION
    compression: CompressionPlan = CompressionPlan()  # Core ML weight compression (coreml_compression)
    coreml_rgb_input: bool = False  # Core ML: also image_encoder_rgb (a second copy of the encoder's weights)
    int8_image_encoder: str = INT8_IMAGE_ENCODER_MODES[0]  # int8 ONNX image encoder (onnx_int8 describes each)
    calibration: Path | None = None  # video or frame folder calibrating static int8 ONNX and fitted Core ML

    def __post_init__(self) -> None:
        if self.onnx_attention not in ONNX_ATTENTION:
            raise ExportError(
                f"unknown ONNX attention {self.onnx_attention!r}; choose one of {', '.join(ONNX_ATTENTION)}"
            )
        if self.int8_image_encoder not in INT8_IMAGE_ENCODER_MODES:
            raise ExportError(
                f"unknown int8 image encoder mode {self.int8_image_encoder!r}; "
                f"choose one of {', '.join(INT8_IMAGE_ENCODER_MODES)}"
            )
        if self.calibration is not None and not self._calibrates():
            raise ExportError(
                "--calibration calibrates static int8 ONNX convolutions (--precision int8 --int8-image-encoder "
                "static) or fitted Core ML weight compression (--compress with --compress-rounding fitted): "
                "add one of them"
            )
        for fmt in self.formats:
            if self.precision_of(fmt) not in PRECISIONS[fmt]:
                hint = " (Core ML weights are compressed with --compress int8|palettize8|…)" if fmt == "coreml" else ""
                raise ExportError(
                    f"precision {self.precision_of(fmt)} is not available for {fmt}: "
                    f"choose one of {', '.join(PRECISIONS[fmt])}{hint}"
                )

    def _calibrates(self) -> bool:
        static = "onnx" in self.formats and self.int8_image_encoder == "static"
        return static or ("coreml" in self.formats and self.compression.fitted("image_encoder"))

    def precision_of(self, fmt: str) -> str:
        return (self.precision or {}).get(fmt, DEFAULT_PRECISION[fmt])

    def coreml_capacities(self, config: dict) -> dict[str, int]:
        # Pointers: the past conditioning frames (≤ K) plus up to max_obj_ptrs − 1 recent frames.
        return {
            "K": self.cond_slots,
            "N": self.cond_slots + config["max_obj_ptrs_in_encoder"] - 1,
            "P": self.point_slots,
        }


def size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def export_all(
    model: EdgeTAM,
    weights: WeightsInfo,
    out: Path,
    options: ExportOptions,
    progress: Callable[[str, str, float], None] = lambda stage, fmt, seconds: None,
) -> dict:
    """Export every stage in every requested format to `out`; returns the manifest."""
    out = Path(out)
    if out.exists() and not (out / MANIFEST).exists() and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not an export folder; give an empty or new --out folder")
    with staged_folder(out, ExportError) as staging:
        manifest = _export_into(model, weights, staging, options, progress)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _export_into(model: EdgeTAM, weights: WeightsInfo, folder: Path, options: ExportOptions, progress) -> dict:
    config = model.cfg.to_dict()
    sizes = model_sizes(config)
    stages = Stages(model).eval()
    manifest = {
        "format_version": FORMAT_VERSION,
        "toolkit": {"name": "edgetam-export", "version": __version__},
        "model": {"family": "edgetam", "config": config},
        "weights": weights.to_dict(),
        "preprocessing": {
            "image_size": config["image_size"],
            "resize": "bilinear, antialiased, on uint8 RGB (transformers' Sam2VideoProcessor), no aspect kept",
            "scale": 1 / 255,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        },
        "memory_bank": {
            "recent_slots": config["num_maskmem"] - 1,
            "memory_tokens": sizes["T"],
            "memory_dim": sizes["M"],
            "memory_dtype": "bfloat16",
            "max_object_pointers": config["max_obj_ptrs_in_encoder"],
        },
        "formats": {},
    }
    for fmt in options.formats:
        precision = options.precision_of(fmt)
        (folder / fmt).mkdir()
        if fmt == "onnx":
            section = _export_onnx(stages, sizes, folder, precision, options, manifest, progress)
        else:
            section = _export_coreml(model, stages, sizes, folder, precision, manifest, options, progress)
        manifest["formats"][fmt] = section
    return manifest


def _stage_entry(folder: Path, file: Path, stage: str, sizes: dict, seconds: float, dtype: str | None = None) -> dict:
    record = contract(STAGES[stage], sizes, dtype)
    return {
        "file": str(file.relative_to(folder)),
        "bytes": size_bytes(file),
        "sha256": sha256_file(file),
        "export_seconds": round(seconds, 2),
        "inputs": record["inputs"],
        "outputs": record["outputs"],
    }


def _export_onnx(stages: Stages, sizes: dict, folder: Path, precision: str, options, manifest: dict, progress) -> dict:
    from .to_onnx import OPSET, contract_metadata, export_onnx

    attention = options.onnx_attention
    if precision == "fp16":
        stages = float16_stages(stages)
    dtype = torch.float16 if precision == "fp16" else torch.float32
    static = precision == "int8" and options.int8_image_encoder == "static"
    calibration = calibration_frames(options.calibration, sizes["S"]) if static else None
    entries = {}
    for name, spec in STAGES.items():
        start = time.perf_counter()
        path = folder / "onnx" / f"{name}.onnx"
        module = getattr(stages, name)
        example = {k: v.to(dtype) for k, v in example_inputs(name, {**sizes, **TRACE_SIZES}).items()}
        metadata = {
            "edgetam.contract": contract_metadata(spec, sizes),
            "edgetam.weights": json.dumps(manifest["weights"]),
            "edgetam.toolkit_version": __version__,
        }
        traced = path.with_name(f".{name}.fp32.onnx") if precision == "int8" else path
        with float16_safe(module, enabled=precision == "fp16"), fused_attention(module, attention == "onnxruntime"):
            export_onnx(module, spec, example, traced, metadata)
        quantization = None
        if precision == "int8":
            from .onnx_int8 import quantize_stage

            quantization = quantize_stage(name, traced, path, options.int8_image_encoder, calibration)
            traced.unlink()
        seconds = time.perf_counter() - start
        entries[name] = _stage_entry(folder, path, name, sizes, seconds, "float16" if precision == "fp16" else None)
        if quantization is not None:
            entries[name]["quantization"] = quantization
        progress(name, "onnx", seconds)
    section = {
        "precision": precision,
        "opset": OPSET,
        "attention": attention,
        "capacities": {"B": None, "K": None, "N": None, "P": None},
        "stages": entries,
    }
    if precision == "int8":
        section["int8_image_encoder"] = options.int8_image_encoder
    if static:
        source = str(options.calibration) if options.calibration else "generated clip (edgetam_export.clip)"
        section["calibration"] = {"source": source, "frames": len(calibration)}
    return section


def coreml_stage_module(stages: Stages, name: str, sizes: dict, plan: CompressionPlan, frames: list) -> nn.Module:
    """The stage to convert: itself, or with weights fitted to calibration inputs for its compression."""
    module = getattr(stages, name)
    if not plan.fitted(name):
        return module
    from .coreml_compression import MIN_ELEMENTS, granularity
    from .fitted_rounding import calibration_inputs, fit_weights, probe_inputs

    inputs = calibration_inputs(name, sizes, frames)
    preset = plan.preset_of(name)
    if preset == "mixed":
        from .mixed_precision import choose_layer_presets

        probes = probe_inputs(name, sizes)
        choices, chosen = choose_layer_presets(module, inputs, probes, MIN_ELEMENTS, plan.skip_ops)
        fitted = fit_weights(module, inputs, preset, MIN_ELEMENTS, plan.skip_ops, choices=choices)
        fitted.report["mixed"] = chosen
        return fitted
    group_size = granularity(plan.target).get("group_size")
    return fit_weights(module, inputs, preset, MIN_ELEMENTS, plan.skip_ops, group_size)


def float16_stages(stages: Stages) -> Stages:
    """A float16 copy of `stages` for a float16 ONNX export: whole graphs in float16 (inputs and outputs
    too). Constants derived from the weights are computed first, in float64, then rounded to float16 once:
    the batch-norm folds and the RepViT token mixers' single convs (`fold_constants_`); position encodings
    are computed in float32 before the cast. Left to the graph, those folds would be float16 arithmetic on
    float16 statistics (see `fold_constants_`): on weights whose stride-16 features have std ~250
    (`synthetic_model(feature_scale=3)`, 1024², seed 1) that took vision_feats to cosine 0.9851 / 34.3 dB;
    folded once it is 0.99993 / 57.7 dB. Judged by the fp16 bars in verify."""
    return fold_constants_(copy.deepcopy(stages)).half()


def calibration_frames(video: Path | None, image_size: int) -> list:
    """Frames calibrating the image encoder (static int8 ONNX, fitted Core ML compression): the user's video,
    or the toolkit's generated clip."""
    from runtime.errors import InputError

    from .clip import synthetic_clip
    from .onnx_int8 import CALIBRATION_FRAMES, calibration_images

    if video is None:
        return calibration_images(synthetic_clip(8, 360, 640, seed=7), image_size)
    from .video_io import open_video

    try:
        with open_video(video) as frames:
            return calibration_images(frames, image_size, CALIBRATION_FRAMES)
    except (InputError, ValueError) as exc:
        raise ExportError(f"--calibration {video}: {exc}") from exc


def _export_coreml(model, stages, sizes, folder, precision, manifest, options, progress) -> dict:
    from .to_coreml import export_coreml, export_image_encoder_image_input, package_batch

    caps = options.coreml_capacities(manifest["model"]["config"])
    fixed = {**sizes, **caps}
    metadata = {
        "author": "edgetam-export (EdgeTAM: Zhou et al., 2025; Meta)",
        "license": "Apache-2.0 (EdgeTAM weights: see the checkpoint's license)",
        "version": __version__,
        "weights": json.dumps(manifest["weights"]),
    }
    plan = options.compression
    fits_frames = "image_encoder" in STAGES and plan.fitted("image_encoder")
    frames = calibration_frames(options.calibration, sizes["S"]) if fits_frames else []
    entries, modules = {}, {}
    for name in STAGES:
        start = time.perf_counter()
        path = folder / "coreml" / f"{name}.mlpackage"
        module = modules[name] = coreml_stage_module(stages, name, fixed, plan, frames)
        with float16_safe(module, enabled=precision == "fp16"):
            export_coreml(module, STAGES[name], fixed, options.max_objects, path, precision, metadata, plan)
        seconds = time.perf_counter() - start
        entries[name] = {
            **_stage_entry(folder, path, name, fixed, seconds),
            "batch": package_batch(path),
            "compression": plan.preset_of(name),
        }
        if plan.fitted(name):
            entries[name]["fitted_rounding"] = module.report
        progress(name, "coreml", seconds)
    section = {
        "precision": precision,
        "deployment_target": plan.target,
        "capacities": {"B": [1, options.max_objects], **caps},
        "compression": plan.manifest(STAGES),
        "stages": entries,
    }
    if fits_frames:
        source = str(options.calibration) if options.calibration else "generated clip (edgetam_export.clip)"
        section["calibration"] = {"source": source, "frames": len(frames)}
    if options.coreml_rgb_input:  # its own copy of the encoder's weights (Core ML shares weights only from iOS 18)
        start = time.perf_counter()
        image_path = folder / "coreml" / "image_encoder_rgb.mlpackage"
        export_image_encoder_image_input(
            modules["image_encoder"], fixed, image_path, precision, metadata, IMAGENET_MEAN, IMAGENET_STD, plan
        )
        progress("image_encoder (RGB image input)", "coreml", time.perf_counter() - start)
        section["image_encoder_rgb"] = {"file": str(image_path.relative_to(folder)), "bytes": size_bytes(image_path)}
    return section
