"""Smaller exports: position/RoPE tables built in the graph, Core ML weight-compression presets, int8 ONNX.

Small sizes keep it quick: the Core ML presets compress one converted stage (memory_encoder at 256²), the
int8 ONNX export runs at 256² and tracks a short clip, the table checks convert memory attention at 512²
(where a frame table would be 1024 tokens long). Each test prints the figures it measured; speed is left to
the benchmark.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from onnx import numpy_helper

from edgetam_export import coreml_compression as cc
from edgetam_export import fitted_rounding, to_coreml
from edgetam_export.cli import main
from edgetam_export.examples import TRACE_SIZES, example_inputs
from edgetam_export.export import ExportOptions, export_all, size_bytes
from edgetam_export.metrics import cosine
from reference_model import EdgeTamConfig, Stages, WeightsInfo, synthetic_model
from reference_model.attention import float16_safe, fused_attention
from runtime.backends.onnx import OnnxBackend
from runtime.contract import STAGES, model_sizes

SEED = 1
CAPACITIES = {"K": 2, "N": 7, "P": 4}
METADATA = {"author": "tests", "license": "Apache-2.0", "version": "0.0.test", "weights": "{}"}


@pytest.fixture(scope="module")
def model_256():
    return synthetic_model(SEED, EdgeTamConfig(image_size=256))[0]


@pytest.fixture(scope="module")
def stages_512():
    return Stages(synthetic_model(SEED, EdgeTamConfig(image_size=512))[0]).eval()


# ---------------------------------------------------------------------------------------------------------
# Tables built in the graph


def _constant_shapes_onnx(model: onnx.ModelProto) -> list[tuple[int, ...]]:
    shapes = [tuple(t.dims) for t in model.graph.initializer]
    for node in model.graph.node:
        shapes += [tuple(a.t.dims) for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    return shapes


def _constant_shapes_coreml(path) -> list[tuple[int, ...]]:
    import coremltools as ct

    shapes = []
    function = next(iter(ct.utils.load_spec(str(path)).mlProgram.functions.values()))
    for op in to_coreml._iter_ops(function.block_specializations["CoreML7"]):
        if op.type == "const":
            shapes.append(tuple(d.constant.size for d in op.outputs[0].type.tensorType.dimensions))
    return shapes


def test_memory_attention_stores_no_frame_table(stages_512, tmp_path):
    """At 512² the frame has 1024 tokens: no constant of memory attention (ONNX fp32 or Core ML fp16) holds
    values per token (the RoPE and position tables are built from 32-row per-axis tables), and the ONNX file
    is its weights plus less than 1 MB."""
    from edgetam_export.to_onnx import export_onnx

    module = stages_512.memory_attention
    sizes = model_sizes(stages_512.cfg.to_dict())
    tokens = sizes["F"] ** 2
    path = tmp_path / "memory_attention.onnx"
    example = example_inputs("memory_attention", {**sizes, **TRACE_SIZES})
    with fused_attention(module):
        export_onnx(module, STAGES["memory_attention"], example, path, {})
    shapes = _constant_shapes_onnx(onnx.load(str(path)))
    weights = sum(p.numel() for p in module.parameters()) * 4
    print(f"memory_attention ONNX at 512²: {path.stat().st_size / 1e6:.2f} MB, weights {weights / 1e6:.2f} MB")
    assert not [s for s in shapes if tokens in s and np.prod(s) > tokens], "a per-token table is stored"
    assert path.stat().st_size < weights + 1e6  # the three frame tables alone were 3.1 MB here

    package = tmp_path / "memory_attention.mlpackage"
    with float16_safe(module):
        # K = 3 memories of 512 tokens: no memory-slot table is 1024 rows long by coincidence
        to_coreml.export_coreml(
            module, STAGES["memory_attention"], {**sizes, **CAPACITIES, "K": 3}, 2, package, "fp16", METADATA
        )
    coreml_shapes = _constant_shapes_coreml(package)
    print(f"memory_attention Core ML fp16 at 512²: {size_bytes(package) / 1e6:.2f} MB")
    assert not [s for s in coreml_shapes if tokens in s and np.prod(s) > tokens], "a per-token table is stored"
    assert size_bytes(package) < 1.15 * weights / 2  # float16 weights plus the memory slots' small tables


# ---------------------------------------------------------------------------------------------------------
# Core ML presets


def test_kmeans_table_fits_a_gaussian_as_lloyd_max():
    """The k-means table reaches the optimal scalar quantizer's SNR for a Gaussian (Lloyd-Max: 31.8 dB at 6
    bits, 20.2 at 4), every index addresses the table, and a tensor with few values is kept exactly."""
    weight = (np.random.default_rng(0).standard_normal((512, 256)) / 16).astype(np.float16)
    for nbits, floor in ((8, 38.0), (6, 31.0), (4, 19.8)):
        table, indices = cc.kmeans_table(weight, nbits)
        assert table.dtype == np.float16 and indices.dtype == np.uint8 and indices.size == weight.size
        assert table.shape == (1 << nbits,) and indices.max() < (1 << nbits) and np.all(np.diff(table) >= 0)
        x = weight.astype(np.float64).ravel()
        snr = 10 * np.log10((x**2).mean() / ((x - table[indices].astype(np.float64)) ** 2).mean())
        print(f"{nbits}-bit k-means: {snr:.1f} dB")
        assert snr >= floor
    # A tensor of a few thousand values (one group of channels at iOS 18): Lloyd from equal-count bins stopped
    # at 30.7 dB for 8 bits here; from the density^(1/3) start or an even grid it reaches 43.0.
    small = np.random.default_rng(2).standard_normal(1536)
    for nbits, floor in ((8, 41.0), (6, 29.5)):
        table, indices = cc.kmeans_table(small, nbits)
        snr = 10 * np.log10((small**2).mean() / ((small - table[indices]) ** 2).mean())
        print(f"{nbits}-bit k-means, 1536 values: {snr:.1f} dB")
        assert snr >= floor
    levels = np.array([-1.0, 0.0, 0.5, 2.0], np.float32)[np.random.default_rng(1).integers(0, 4, 4096)]
    table, indices = cc.kmeans_table(levels, 4)
    np.testing.assert_array_equal(table[indices], levels)


def test_plan_parses_overrides_and_names_bad_input():
    plan = cc.CompressionPlan.parse(("palettize6", "image_encoder=int8", "mask_prompt=none"), ("conv",), tuple(STAGES))
    assert plan.preset_of("memory_attention") == "palettize6" and plan.preset_of("image_encoder") == "int8"
    assert plan.manifest(STAGES)["stages"]["mask_prompt"] == "none" and plan.skip_ops == ("conv",)
    assert plan.record("image_encoder") == {
        "preset": "int8",
        **cc.describe("int8"),
        "rounding": "fitted",
        "skip_ops": ["conv"],
        "min_elements": cc.MIN_ELEMENTS,
    }
    recommended = cc.CompressionPlan.parse(("recommended", "mask_prompt=none"))
    assert recommended.preset == "mixed" and recommended.stages == {"mask_prompt": "none"}
    assert cc.CompressionPlan.parse(("int8",), rounding="nearest").record("mask_decoder")["rounding"] == "nearest"
    assert not cc.CompressionPlan.parse(("int8", "mask_prompt=none")).fitted("mask_prompt")
    with pytest.raises(cc.CompressionError, match="palettize5.*choose one of"):
        cc.CompressionPlan.parse(("palettize5",))
    with pytest.raises(cc.CompressionError, match="mixed.*--compress-rounding fitted"):
        cc.CompressionPlan.parse(("palettize6", "image_encoder=mixed"), rounding="nearest")
    with pytest.raises(cc.CompressionError, match="rounding 'exact'.*fitted, nearest"):
        cc.CompressionPlan.parse(("int8",), rounding="exact")
    with pytest.raises(cc.CompressionError, match="unknown stage 'decoder'"):
        cc.CompressionPlan.parse(("decoder=int8",), stage_names=tuple(STAGES))
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--random-init", "--format", "coreml", "--precision", "int8", "--out", "x"])
    assert result.exit_code != 0 and "--compress" in result.output
    result = runner.invoke(main, ["export", "--random-init", "--compress", "palettize3", "--out", "x"])
    assert result.exit_code != 0 and "palettize3" in result.output
    args = ["export", "--random-init", "--format", "coreml", "--calibration", "v.mp4", "--out", "x"]
    result = runner.invoke(main, args)  # nothing compressed, so nothing to calibrate
    assert result.exit_code != 0 and "--calibration calibrates" in result.output


@pytest.fixture(scope="module")
def converted_memory_encoder(model_256):
    """memory_encoder at 256², converted once (fp16); each preset compresses this converted model."""
    stages = Stages(model_256).eval()
    sizes = {**model_sizes(model_256.cfg.to_dict()), **CAPACITIES}
    with float16_safe(stages.memory_encoder):
        mlmodel, batch = to_coreml.convert_stage(stages.memory_encoder, STAGES["memory_encoder"], sizes, 2, "fp16")
    return stages, sizes, mlmodel, batch


_COMPRESSED_OP = {"int8": "constexpr_affine_dequantize", "palettize8": "constexpr_lut_to_dense"}


@pytest.mark.parametrize("preset", [p for p in cc.PRESETS if p != "mixed"])  # mixed: tests/test_mixed_precision.py
def test_coreml_preset_exports_and_loads(preset, converted_memory_encoder, tmp_path):
    """Each preset: the package passes the structure check (iOS 17 ops, names, shapes, metadata), records its
    compression, compresses every weight of ≥ 2048 elements and none smaller, and shrinks as its bits say.
    With the ML Program interpreter available, its output is compared with the float32 torch stage."""
    import coremltools as ct

    stages, sizes, mlmodel, batch = converted_memory_encoder
    stage = STAGES["memory_encoder"]
    plan = cc.CompressionPlan(preset, rounding="nearest")  # the converted stage's own weights, rounded plainly
    path = tmp_path / f"{preset}.mlpackage"
    to_coreml.save_package(mlmodel, stage, sizes, METADATA, batch, "fp16", plan, path)
    assert to_coreml.check_package(path, stage, sizes) == []
    assert cc.package_compression(path) == plan.record("memory_encoder")
    ops = to_coreml.op_types(path)
    megabytes = size_bytes(path) / 1e6
    if preset == "none":
        assert not [op for op in ops if op.startswith("constexpr")]
    else:
        assert ops.get(_COMPRESSED_OP.get(preset, "constexpr_lut_to_dense"), 0) > 0
        spec = ct.utils.load_spec(str(path))
        block = next(iter(spec.mlProgram.functions.values())).block_specializations["CoreML7"]
        for op in to_coreml._iter_ops(block):
            dims = [d.constant.size for d in op.outputs[0].type.tensorType.dimensions] if op.outputs else []
            count = int(np.prod(dims)) if dims else 1
            if op.type.startswith("constexpr"):
                assert count >= cc.MIN_ELEMENTS, op.outputs[0].name
            elif op.type == "const" and op.outputs[0].type.tensorType.dataType == 10:  # float16
                assert count < cc.MIN_ELEMENTS, f"{op.outputs[0].name} ({count} elements) left uncompressed"
    from runtime.mlprogram import Program  # the Core ML numerics, measured through the interpreter

    inputs = example_inputs("memory_encoder", {**sizes, "B": 1}, seed=3)
    with torch.no_grad():
        want = stages.memory_encoder(*[inputs[n] for n in stage.input_names]).numpy()
    got = Program(path, "memory_encoder").run({k: v.numpy() for k, v in inputs.items()})["mem_feats"]
    figure = f", cosine {cosine(got, want):.5f} against float32 torch"
    # Floors under the measured figures (README table): a wrong table or scale falls far below them;
    # 4-bit is a reported trade (memory_encoder measured 0.974–0.976), not held to 0.99.
    floor = {"none": 0.9999, "int8": 0.999, "palettize8": 0.999, "palettize6": 0.99}.get(preset, 0.95)
    assert cosine(got, want) >= floor
    print(f"memory_encoder {preset}: {megabytes:.2f} MB{figure}")
    fp16_megabytes = sum(p.numel() for p in stages.memory_encoder.parameters()) * 2 / 1e6
    bits = {"none": 16, "int8": 8, "palettize8": 8, "palettize6": 6, "palettize4": 4}[preset]
    assert megabytes <= fp16_megabytes * (bits / 16) * 1.25 + 0.1


def test_ios18_target_palettizes_per_channel_group(model_256, tmp_path):
    """--coreml-target iOS18: the stage (fitted, as an export fits it) converts to the iOS 18 opset,
    palettization keeps one table per group of GROUP_SIZE output channels, the package records the target and
    passes the structure check against it (and fails it when it claims iOS 17), and the interpreter runs it."""
    import coremltools as ct

    from runtime.mlprogram import Program
    from runtime.mlprogram.program import load_mil

    stages = Stages(model_256).eval()
    sizes = {**model_sizes(model_256.cfg.to_dict()), **CAPACITIES}
    stage = STAGES["memory_encoder"]
    calibration = fitted_rounding.calibration_inputs("memory_encoder", sizes, [])
    fitted = fitted_rounding.fit_weights(
        stages.memory_encoder, calibration, "palettize6", cc.MIN_ELEMENTS, group_size=cc.GROUP_SIZE
    )
    with float16_safe(fitted):
        mlmodel, batch = to_coreml.convert_stage(fitted, stage, sizes, 2, "fp16", "iOS18")
    plan = cc.CompressionPlan.parse(("palettize6",), target="iOS18")
    path = tmp_path / "ios18.mlpackage"
    to_coreml.save_package(mlmodel, stage, sizes, METADATA, batch, "fp16", plan, path)
    assert to_coreml.check_package(path, stage, sizes) == []
    record = cc.package_compression(path)
    assert record["granularity"] == "per_grouped_channel" and record["group_size"] == cc.GROUP_SIZE
    spec = ct.utils.load_spec(str(path))
    assert (
        spec.specificationVersion == 9 and spec.description.metadata.userDefined["edgetam.deployment_target"] == "iOS18"
    )
    tables = [op for op in load_mil(path).functions["main"].operations if op.op_type == "constexpr_lut_to_dense"]
    assert tables
    weights = [w.half().numpy() for w in fitted.fitted.values()]
    exact = 0
    for op in tables:  # lut: [channel groups, 1, …, 2^6, 1]; indices: the weight's shape
        lut, indices = op.inputs["lut"].val, op.inputs["indices"].val
        assert lut.shape[0] == indices.shape[0] // cc.GROUP_SIZE and lut.shape[-2] == 64
        groups = lut.reshape(lut.shape[0], -1)  # each group's table, indexed by its channels' indices
        dense = np.stack([groups[c // cc.GROUP_SIZE][indices[c]] for c in range(indices.shape[0])])
        exact += any(w.shape == dense.shape and np.array_equal(dense, w) for w in weights)
    print(f"{exact} of {len(tables)} tables hold fitted weights exactly ({len(weights)} fitted)")
    assert exact == len(weights)  # every fitted weight, fitted per group of channels, stored as fitted
    inputs = example_inputs("memory_encoder", {**sizes, "B": 1}, seed=3)
    with torch.no_grad():
        want = stages.memory_encoder(*[inputs[n] for n in stage.input_names]).numpy()
    got = Program(path, "memory_encoder").run({k: v.numpy() for k, v in inputs.items()})["mem_feats"]
    print(f"memory_encoder palettize6 at iOS 18: cosine {cosine(got, want):.5f}")
    assert cosine(got, want) >= 0.99
    spec.description.metadata.userDefined["edgetam.deployment_target"] = "iOS17"
    ct.utils.save_spec(
        spec, str(tmp_path / "claims_ios17.mlpackage"), weights_dir=str(path / "Data" / "com.apple.CoreML" / "weights")
    )
    problems = to_coreml.check_package(tmp_path / "claims_ios17.mlpackage", stage, sizes)
    assert any("newer OS than iOS17" in p for p in problems), problems
    with pytest.raises(cc.CompressionError, match="iOS16.*choose one of iOS17, iOS18"):
        cc.CompressionPlan(target="iOS16")


def test_compressed_export_verifies_and_tracks(tiny_model, tiny_stages, tiny_coreml_exports, tmp_path):
    """A whole compressed Core ML export (the recommended preset: each layer's storage chosen per stage,
    `mixed`; fitted rounding) passes the structure check, records each stage's choice,
    reports every stage's figures through the interpreter, and tracks a clip through the `mlprogram` backend
    beside the float32 ONNX export (IoU reported: a stress figure; measured min 0.211, mean 0.791 at 256²: one
    click's near-tied candidate masks swap on its prompted frame; the README's compression section).
    Every other preset is exported and measured stage by stage above; the iOS 18 target in its own test."""
    from edgetam_export import verify

    plan = cc.CompressionPlan.parse(("recommended",))
    folder = tmp_path / "export"
    manifest = export_all(
        tiny_model, WeightsInfo("synthetic", seed=SEED), folder, ExportOptions(formats=("coreml",), compression=plan)
    )
    section = manifest["formats"]["coreml"]
    assert section["deployment_target"] == "iOS17" and section["compression"]["rounding"] == "fitted"
    assert section["calibration"] == {"source": "generated clip (edgetam_export.clip)", "frames": 4}
    assert all(section["stages"][s]["fitted_rounding"]["layers"] > 0 for s in STAGES if s != "mask_prompt")
    assert section["compression"]["stages"] == {name: plan.preset_of(name) for name in STAGES}
    for name in ("image_encoder", "memory_attention", "mask_decoder", "memory_encoder"):
        chosen = section["stages"][name]["fitted_rounding"]["mixed"]
        print(f"recommended {name}: {chosen}")
        assert sum(chosen["layers_by_preset"].values()) == section["stages"][name]["fitted_rounding"]["layers"]
    assert verify.verify_coreml_structure(folder, manifest) == []
    rows = verify.verify_coreml_measured(folder, tiny_stages)
    assert {r.stage for r in rows} == set(STAGES)
    for r in rows:
        print(f"recommended {r.stage:17} {r.output:20} cosine {r.cosine:.5f} PSNR {r.psnr:.1f}")
    # A floor under the figures measured at 256² (lowest 0.99922, object_score_logits; the rest ≥ 0.99934): a wrong
    # table or scale falls far below it.
    assert min(r.cosine for r in rows) >= 0.99
    from runtime.backends import load_backend

    masks = verify.tracked_masks(load_backend(folder, "mlprogram"), 3)
    reference = verify.tracked_masks(load_backend(tiny_coreml_exports["fp32"], "onnx"), 3)
    figures = verify.iou_figures([masks, reference])
    print(f"recommended: tracking vs float32 ONNX: {figures}")
    assert len(masks) == len(reference) and all(np.isfinite(m).all() for m in masks)


def test_manifest_records_compression(model_256, tmp_path, monkeypatch):
    """A Core ML export with a default preset and a per-stage override records both, in the manifest's
    coreml section and in each package (two small stages exported, to keep the test quick)."""
    import edgetam_export.export as export_module

    monkeypatch.setattr(export_module, "STAGES", {n: STAGES[n] for n in ("memory_encoder", "mask_prompt")})
    plan = cc.CompressionPlan.parse(("palettize4", "mask_prompt=none"), ("conv",))
    options = ExportOptions(formats=("coreml",), compression=plan, max_objects=2)
    manifest = export_all(model_256, WeightsInfo("synthetic", seed=SEED), tmp_path / "out", options)
    section = manifest["formats"]["coreml"]
    assert section["compression"]["stages"] == {"memory_encoder": "palettize4", "mask_prompt": "none"}
    assert section["compression"]["skip_ops"] == ["conv"] and "image_encoder_rgb" not in section
    assert section["stages"]["memory_encoder"]["compression"] == "palettize4"
    assert section["compression"]["rounding"] == "fitted" and "calibration" not in section  # no image encoder
    fitted = section["stages"]["memory_encoder"]["fitted_rounding"]
    assert fitted["layers"] > 0 and "fitted_rounding" not in section["stages"]["mask_prompt"]
    assert fitted["output_error_vs_nearest"]["median"] < 1  # per layer, on the calibration inputs
    record = cc.package_compression(tmp_path / "out" / section["stages"]["memory_encoder"]["file"])
    assert record["preset"] == "palettize4" and record["nbits"] == 4 and record["skip_ops"] == ["conv"]
    assert record["rounding"] == "fitted"
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["formats"]["coreml"]["compression"] == section["compression"]


# ---------------------------------------------------------------------------------------------------------
# int8 ONNX


@pytest.fixture(scope="module")
def int8_export(model_256, tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8") / "export"
    options = ExportOptions(formats=("onnx",), precision={"onnx": "int8"})
    manifest = export_all(model_256, WeightsInfo("synthetic", seed=SEED), folder, options)
    return folder, manifest


def test_int8_onnx_export_records_and_shrinks(int8_export, model_256):
    folder, manifest = int8_export
    section = manifest["formats"]["onnx"]
    assert section["precision"] == "int8" and section["int8_image_encoder"] == "dynamic"
    methods = {s: e["quantization"]["method"] for s, e in section["stages"].items()}
    assert methods == {
        "image_encoder": "dynamic_pointwise",
        "memory_attention": "dynamic_matmul",
        "mask_decoder": "dynamic_matmul",
        "memory_encoder": "dynamic_matmul",
        "mask_prompt": "float32",
    }
    # memory attention's four attentions (two layers: self, cross) compute q·kᵀ in int8
    assert section["stages"]["memory_attention"]["quantization"]["int8_attention"] == 4
    assert section["stages"]["mask_decoder"]["quantization"]["int8_attention"] == 0
    for stage in ("image_encoder", "memory_attention", "mask_decoder", "memory_encoder"):
        assert section["stages"][stage]["quantization"]["integer_ops"] > 0
        graph = onnx.load(str(folder / section["stages"][stage]["file"]))
        record = json.loads({p.key: p.value for p in graph.metadata_props}["edgetam.quantization"])
        assert record["method"] == methods[stage]
    total = sum(e["bytes"] for e in section["stages"].values())
    float_bytes = sum(p.numel() for p in Stages(model_256).parameters()) * 4
    print(f"int8 ONNX at 256²: {total / 1e6:.2f} MB ({total / float_bytes:.0%} of the float32 weights)")
    # the image encoder keeps its stem, stages 0–1, depthwise and most sensitive 1×1 convolutions in float32
    # arithmetic, their weights stored float16 (onnx_int8)
    assert total <= 0.30 * float_bytes


def test_int8_onnx_stages_and_track(int8_export, model_256):
    """Every int8 stage within cosine 0.99 of the float32 torch stage (verify's int8 bar); a short track runs
    through the onnx backend and its IoU against torch float32 is reported."""
    from edgetam_export.verify import tracking_iou, verify_onnx

    folder, _ = int8_export
    rows = verify_onnx(folder, Stages(model_256).eval(), "int8")
    for r in rows:
        print(f"int8 {r.stage}.{r.output}: max|d|/std {r.rel_diff:.2e}, cosine {r.cosine:.5f}, PSNR {r.psnr:.1f}")
    assert all(r.passed for r in rows), [f"{r.stage}.{r.output}" for r in rows if not r.passed]
    figures = tracking_iou(folder, model_256, "onnx", frames=3)
    print(f"int8 tracking vs torch: min IoU {figures['min_iou']:.4f}, mean {figures['mean_iou']:.4f}")
    assert figures["frames"] == 4 and 0.0 <= figures["min_iou"] <= 1.0  # frames 1, 2, then 1, 0 in reverse


def _folds_dequantized_weights(session) -> bool:
    try:
        return session.get_session_options().get_session_config_entry("session.disable_quant_qdq") == "1"
    except RuntimeError:  # not set
        return False


@pytest.mark.parametrize("mode", ["weights", "static"])
def test_int8_image_encoder_modes_export_verify_and_track(mode, model_256, tmp_path):
    """The other int8 image encoder modes export, load through the runtime, verify and track, and report their
    figures. `weights` keeps verify's int8 bar; `static` rounds every convolution's activations to uint8 on
    ranges calibrated on frames, so verify's random images fall outside them: its image encoder is inexact by
    design (README), and only the other stages are held to the bar."""
    from edgetam_export.verify import tracking_iou, verify_onnx

    folder = tmp_path / "export"
    options = ExportOptions(formats=("onnx",), precision={"onnx": "int8"}, int8_image_encoder=mode)
    manifest = export_all(model_256, WeightsInfo("synthetic", seed=SEED), folder, options)
    section = manifest["formats"]["onnx"]
    record = section["stages"]["image_encoder"]["quantization"]
    graph = onnx.load(str(folder / section["stages"]["image_encoder"]["file"]))
    ops = [n.op_type for n in graph.graph.node]
    if mode == "static":
        # GELU fused and the squeeze-excite means pooled before quantizing, so onnxruntime runs them fused
        assert record["method"] == "static_qdq_conv" and record["calibration_frames"] == 4
        assert record["fused_gelu"] == ops.count("Gelu") > 0 and "Erf" not in ops
        assert record["global_average_pools"] == ops.count("GlobalAveragePool") > 0 and "ReduceMean" not in ops
        assert ops.count("QuantizeLinear") > 0
    else:
        assert record["method"] == "int8_weights" and record["int8_weights"] > 0 and "QuantizeLinear" not in ops
    # onnxruntime keeps QDQ pairs (for its integer convolutions) in the static image encoder alone; every other
    # int8 stage has its int8-stored weights folded to float32 at load, not dequantized on every run
    backend = OnnxBackend.from_folder(folder)
    assert [s for s in backend.sessions if not _folds_dequantized_weights(backend.sessions[s])] == (
        ["image_encoder"] if mode == "static" else []
    )
    rows = verify_onnx(folder, Stages(model_256).eval(), "int8")
    for r in rows:
        print(f"int8 ({mode}) {r.stage}.{r.output}: max|d|/std {r.rel_diff:.2e}, cosine {r.cosine:.5f}")
    held = [r for r in rows if mode == "weights" or r.stage != "image_encoder"]
    assert all(r.passed for r in held), [f"{r.stage}.{r.output}" for r in held if not r.passed]
    assert all(np.isfinite(r.cosine) and r.cosine > 0 for r in rows)
    assert {r.stage for r in rows} >= {"image_encoder", "memory_attention", "mask_decoder", "memory_encoder"}
    figures = tracking_iou(folder, model_256, "onnx", frames=3)
    print(f"int8 ({mode}) tracking vs torch: min IoU {figures['min_iou']:.4f}, mean {figures['mean_iou']:.4f}")
    assert figures["frames"] == 4 and 0.0 <= figures["min_iou"] <= 1.0
    if mode == "static":  # the CLI fails it on the image encoder alone and says why, and what meets the bar
        result = CliRunner().invoke(main, ["verify", str(folder), "--frames", "2"])
        assert result.exit_code == 1 and "FAILED: onnx image_encoder." in result.output
        assert "--int8-image-encoder dynamic keeps the int8 bar" in result.output
        assert "memory_attention." not in result.output.split("FAILED:")[1]


def test_dequantized_weights_keep_the_function():
    """int8-stored weights (one scale per output channel, DequantizeLinear in the graph) compute what the
    float weights compute to int8 rounding; only Conv/MatMul weights of ≥ MIN_ELEMENTS are converted."""
    import onnxruntime as ort

    from edgetam_export.onnx_int8 import dequantized_weights

    rng = np.random.default_rng(0)
    w_conv = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    w_mm = rng.standard_normal((32, 64)).astype(np.float32)
    bias = rng.standard_normal(32).astype(np.float32)
    h = onnx.helper
    graph = h.make_graph(
        [
            h.make_node("Conv", ["x", "w_conv", "bias"], ["c"], pads=[1, 1, 1, 1]),
            h.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
            h.make_node("MatMul", ["t", "w_mm"], ["y"]),
        ],
        "g",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 16, 8, 8])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 8, 8, 64])],
        [numpy_helper.from_array(a, n) for a, n in ((w_conv, "w_conv"), (w_mm, "w_mm"), (bias, "bias"))],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])
    x = rng.standard_normal((1, 16, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert dequantized_weights(model) == 2  # the 32-element bias stays float32
    onnx.checker.check_model(model, full_check=True)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert cosine(got, want) > 0.9999
    assert {t.name: t.data_type for t in model.graph.initializer}["w_conv_int8"] == onnx.TensorProto.INT8
