"""ONNX export: files, manifest and contracts; byte-identical re-export; the runtime on the exported
graphs against the original and transformers; the CLI's export, verify and inspect."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import onnx
import pytest
from click.testing import CliRunner

from edgetam_export.cli import main
from edgetam_export.examples import TRACE_SIZES, example_inputs
from edgetam_export.export import ExportOptions, export_all, sha256_file
from edgetam_export.to_onnx import OPSET, export_onnx
from reference_model import Stages, WeightsInfo
from reference_model.attention import fused_attention
from runtime import Tracker
from runtime.backends.onnx import OnnxBackend
from runtime.contract import STAGES, model_sizes
from tests.conftest import SEED, SMALL
from tests.scenarios import scenarios
from tests.test_tracking_parity import check, run_against_original


@pytest.fixture(scope="module")
def export_dir(small_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "edgetam_512"
    export_all(small_model, WeightsInfo("synthetic", seed=SEED), out, ExportOptions(formats=("onnx",)))
    return out


def test_manifest_and_files(export_dir, small_model):
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["model"]["family"] == "edgetam"
    assert manifest["model"]["config"]["image_size"] == SMALL
    assert manifest["weights"] == {"kind": "synthetic", "seed": SEED}
    assert manifest["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    assert manifest["memory_bank"]["recent_slots"] == 6 and manifest["memory_bank"]["memory_tokens"] == 512
    section = manifest["formats"]["onnx"]
    assert set(section["stages"]) == set(STAGES)
    sizes = model_sizes(small_model.cfg.to_dict())
    for name, entry in section["stages"].items():
        path = export_dir / entry["file"]
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version >= OPSET
        assert entry["sha256"] == sha256_file(path) and entry["bytes"] == path.stat().st_size
        contract = json.loads({p.key: p.value for p in model.metadata_props}["edgetam.contract"])
        assert (
            [i["name"] for i in contract["inputs"]] == [i.name for i in model.graph.input] == STAGES[name].input_names
        )
        assert [o.name for o in model.graph.output] == STAGES[name].output_names
        assert contract["inputs"][0]["shape"][-1] == entry["inputs"][0]["shape"][-1]
        batch_dims = [d.dim_param for i in model.graph.input for d in i.type.tensor_type.shape.dim if d.dim_param]
        assert set(batch_dims) <= {"B", "K", "N", "P"}
    assert sizes["F"] == SMALL // 16


def test_reexport_gives_identical_bytes(export_dir, small_model, tmp_path):
    stages = Stages(small_model).eval()
    sizes = {**model_sizes(small_model.cfg.to_dict()), **TRACE_SIZES}
    manifest = json.loads((export_dir / "manifest.json").read_text())
    for name in STAGES:
        path = tmp_path / f"{name}.onnx"
        metadata = {p.key: p.value for p in onnx.load(str(export_dir / f"onnx/{name}.onnx")).metadata_props}
        with fused_attention(getattr(stages, name)):
            export_onnx(getattr(stages, name), STAGES[name], example_inputs(name, sizes), path, metadata)
        assert sha256_file(path) == manifest["formats"]["onnx"]["stages"][name]["sha256"], name


@pytest.mark.parametrize("name", list(scenarios(SMALL, SMALL)))
def test_onnx_runtime_against_original(name, export_dir, small_model, original_small, tmp_path):
    tracker = Tracker(OnnxBackend.from_folder(export_dir))
    scenario = scenarios(SMALL, SMALL)[name]
    check(run_against_original(small_model, original_small, scenario, tmp_path, tracker=tracker, tag="onnx"))


def test_onnx_runtime_against_transformers(export_dir, hf_checkpoint):
    from tests.test_hf_parity import run_against_transformers

    figures = run_against_transformers(
        Tracker(OnnxBackend.from_folder(export_dir)), hf_checkpoint, "click_and_box_two_objects", 360, 640, "onnx"
    )
    check(figures)


def test_onnx_runtime_imports_no_torch(export_dir):
    code = (
        "import sys, numpy as np; from runtime import Tracker; "
        f"s = Tracker.load({str(export_dir)!r}, backend='onnx').start([np.zeros((64, 96, 3), np.uint8)] * 2); "
        "s.add_prompt(0, 1, points=[[10, 10]], labels=[1]); list(s.propagate()); "
        "assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def test_cli_verify_passes_and_fails(export_dir, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", str(export_dir), "--frames", "3"])
    assert ok.exit_code == 0, ok.output
    assert "onnx    memory_attention" in ok.output and "min IoU" in ok.output and "all checks passed" in ok.output
    # The same export claimed to come from other weights must fail the bars.
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    shutil.copytree(export_dir / "onnx", wrong / "onnx", copy_function=os.link)  # links out are refused
    manifest = json.loads((export_dir / "manifest.json").read_text())
    manifest["weights"]["seed"] = SEED + 1
    (wrong / "manifest.json").write_text(json.dumps(manifest))
    bad = runner.invoke(main, ["verify", str(wrong), "--frames", "3"])
    assert bad.exit_code == 1 and "FAIL" in bad.output


def test_memory_attention_attends_through_onnxruntime_or_standard_ops(export_dir, tmp_path):
    """By default memory attention's four attentions (self and cross, two layers) are onnxruntime's fused
    kernel, and no other stage uses a non-standard op; `--onnx-attention standard` writes standard ops only;
    both give the same features, with padded memory slots and several objects."""
    import numpy as np
    import onnxruntime as ort

    from edgetam_export.examples import example_arrays

    def custom_ops(folder) -> dict[str, list[str]]:
        return {
            name: [n.op_type for n in onnx.load(str(folder / f"onnx/{name}.onnx")).graph.node if n.domain]
            for name in STAGES
        }

    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["formats"]["onnx"]["attention"] == "onnxruntime"
    assert custom_ops(export_dir) == {
        name: ["MultiHeadAttention"] * 4 if name == "memory_attention" else [] for name in STAGES
    }
    out = tmp_path / "standard"
    args = ["export", "--random-init", "--seed", str(SEED), "--image-size", str(SMALL), "--format", "onnx"]
    result = CliRunner().invoke(main, [*args, "--onnx-attention", "standard", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["formats"]["onnx"]["attention"] == "standard"
    assert custom_ops(out) == {name: [] for name in STAGES}
    sizes = model_sizes(manifest["model"]["config"]) | {"B": 3, "K": 2, "N": 5, "P": 1}
    feed = example_arrays("memory_attention", sizes, seed=2)
    assert 0 < feed["recent_valid"].sum() < feed["recent_valid"].size  # some slots padded

    def features(folder) -> np.ndarray:
        path = str(folder / "onnx/memory_attention.onnx")
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feed)[0]

    fused, standard = features(export_dir), features(out)
    assert np.abs(fused).max() > 1 and np.abs(fused - standard).max() < 1e-4


def test_cli_inspect(export_dir):
    result = CliRunner().invoke(main, ["inspect", str(export_dir)])
    assert result.exit_code == 0, result.output
    for stage in STAGES:
        assert stage in result.output
    assert "MB" in result.output and "M params" in result.output and "MatMul" in result.output
    assert "attention onnxruntime" in result.output


def test_cli_export_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--random-init", "--format", "tflite", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "tflite" in result.output
    result = runner.invoke(main, ["export", "--format", "onnx", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--checkpoint PATH or --random-init" in result.output
    result = runner.invoke(main, ["export", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "checkpoint not found" in result.output
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    result = runner.invoke(main, ["export", "--random-init", "--format", "onnx", "--out", str(occupied)])
    assert result.exit_code == 1 and "not an export folder" in result.output
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = runner.invoke(main, ["export", "--random-init", "--format", "onnx", "--out", str(blocker / "out")])
    assert result.exit_code == 1 and "cannot write to" in result.output
    result = runner.invoke(main, ["verify", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "not an export folder" in result.output


def test_onnx_stream_matches_offline(export_dir):
    """A few dozen frames pushed one at a time give the offline session's masks, through ONNX."""
    import numpy as np

    from edgetam_export.clip import synthetic_clip

    frames = synthetic_clip(24, 96, 128)
    tracker = Tracker(OnnxBackend.from_folder(export_dir))
    offline = tracker.start(frames)
    offline.add_prompt(0, 1, points=[[40, 35]], labels=[1])
    offline.add_prompt(0, 2, box=[70, 20, 100, 50])
    expected = list(offline.propagate())
    stream = tracker.start()
    stream.push(frames[0])
    stream.add_prompt(0, 1, points=[[40, 35]], labels=[1])
    stream.add_prompt(0, 2, box=[70, 20, 100, 50])
    for want, frame in zip(expected[1:], frames[1:], strict=True):
        have = stream.push(frame)
        np.testing.assert_array_equal(want.mask_logits > 0, have.mask_logits > 0)
        np.testing.assert_allclose(want.mask_logits, have.mask_logits, atol=1e-5)
    assert stream.stats()["frames_retained"] == 17


def test_track_refuses_a_stale_export(export_dir, tmp_path):
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "onnx").symlink_to(export_dir / "onnx")
    manifest = json.loads((export_dir / "manifest.json").read_text())
    manifest["format_version"] = 0
    (stale / "manifest.json").write_text(json.dumps(manifest))
    frames = tmp_path / "frames"
    frames.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 48)).save(frames / "0000.png")
    result = CliRunner().invoke(
        main, ["track", str(stale), str(frames), "--point", "5,5", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "format_version 0" in result.output and "export again" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_float16_export_guards_layer_norms(export_dir, small_model, tmp_path):
    """A float16 ONNX export normalizes the mask downsampler's few-channel maps with the overflow guard
    (a ReduceMax of the deviations); the float32 export skips it; the model is left as it was."""
    import onnx

    out = tmp_path / "fp16"
    export_all(small_model, WeightsInfo("synthetic", seed=SEED), out, ExportOptions(("onnx",), {"onnx": "fp16"}))

    def reduce_max_nodes(folder) -> int:
        graph = onnx.load(str(folder / "onnx" / "memory_encoder.onnx")).graph
        return sum(node.op_type == "ReduceMax" for node in graph.node)

    assert reduce_max_nodes(export_dir) == 0
    assert reduce_max_nodes(out) > 0
    assert not any(getattr(m, "overflow_safe", False) for m in small_model.modules())


def test_psnr_peak_is_at_least_the_reference_magnitude():
    import numpy as np

    from edgetam_export.metrics import psnr

    scores = np.array([0.29, 0.24])
    # float16-sized errors on two close scores: judged against their magnitude (0.29), not their range (0.05)
    got = scores + np.array([7e-4, -1.1e-3])
    assert psnr(got, scores) == pytest.approx(20 * np.log10(0.29 / np.sqrt(np.mean((got - scores) ** 2))))
    # a tensor straddling zero keeps its range as the peak
    wide = np.array([-1.0, 0.5, 1.0])
    assert psnr(wide + 0.01, wide) == pytest.approx(20 * np.log10(2.0 / 0.01))


def test_verify_checks_the_mask_decoder_clear_of_its_object_threshold(small_stages):
    """An object score near 0 flips under any rounding and takes the masks and pointer with it: verify
    draws its mask decoder examples again until every score is DECISION_MARGIN clear of 0."""
    import numpy as np

    from edgetam_export.verify import DECISION_MARGIN as MARGIN
    from edgetam_export.verify import _outputs, clear_examples

    sizes = {**model_sizes(small_stages.cfg.to_dict()), "B": 4, "K": 1, "N": 1, "P": 1}

    def scores(seed: int) -> np.ndarray:
        inputs = example_inputs("mask_decoder", sizes, seed=seed)
        return _outputs(small_stages.mask_decoder, "mask_decoder", inputs)["object_score_logits"]

    tied = next(seed for seed in range(100, 160) if np.abs(scores(seed)).min() < MARGIN)
    inputs, ref = clear_examples(small_stages, "mask_decoder", sizes, seed=tied)
    assert np.abs(ref["object_score_logits"]).min() >= MARGIN
    first = example_inputs("mask_decoder", sizes, seed=tied)
    assert any(not np.array_equal(inputs[k].numpy(), first[k].numpy()) for k in first)
    with pytest.raises(RuntimeError, match=f"within {MARGIN} of 0"):
        clear_examples(small_stages, "mask_decoder", sizes, seed=tied, tries=1)
    # a stage without an object score takes the first draw
    encoder_inputs, _ = clear_examples(small_stages, "memory_encoder", sizes, seed=tied)
    again = example_inputs("memory_encoder", sizes, seed=tied)
    assert all(np.array_equal(encoder_inputs[k].numpy(), again[k].numpy()) for k in again)
