"""The Core ML packages run on Linux: the `mlprogram` backend (the numpy ML Program interpreter behind the
coreml backend's contract) on a small export, against the torch stages and the ONNX export.

A float32 Core ML export within 1e-4 max |diff|/std of the torch stages proves the conversion and the
interpreter together; the float16 export is held to the float16 bars, measured in the program.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgetam_export import verify
from edgetam_export.examples import example_arrays
from runtime.contract import STAGES, model_sizes
from runtime.errors import InputError


@pytest.fixture(scope="module")
def fp16_backend(tiny_coreml_exports):
    from runtime.backends.mlprogram import MLProgramBackend

    return MLProgramBackend.from_folder(tiny_coreml_exports["fp16"])


def _print(rows) -> None:
    for r in rows:
        print(
            f"{r.check} {r.stage:17} {r.output:20} max|d|/std {r.rel_diff:.2e} cosine {r.cosine:.6f} PSNR {r.psnr:.1f}"
        )


def test_fp32_program_matches_torch_every_stage(tiny_coreml_exports, tiny_stages):
    rows = verify.verify_coreml_measured(tiny_coreml_exports["fp32"], tiny_stages)
    _print(rows)
    assert {r.stage for r in rows} == {
        "image_encoder",
        "memory_attention",
        "mask_decoder",
        "memory_encoder",
        "mask_prompt",
    }
    worst = max(rows, key=lambda r: r.rel_diff)
    assert worst.rel_diff <= 1e-4, worst
    assert all(r.passed for r in rows)


def test_fp16_program_meets_float16_bars(tiny_coreml_exports, tiny_stages):
    """verify's Core ML report on a Core ML-only fp16 export: measured figures for every stage output, the
    torch-fp16 estimate beside them, nothing skipped, no failure."""
    estimate = verify.fp16_estimate(tiny_stages)
    folder = tiny_coreml_exports["fp16"]
    manifest = __import__("json").loads((folder / "manifest.json").read_text())
    lines, failures, measured = verify.coreml_report(folder, manifest, tiny_stages, estimate, frames=3)
    print("\n".join(lines))
    assert {r.stage for r in measured} == set(STAGES)
    assert failures == []
    text = "\n".join(lines)
    assert "skipped" not in text and "measured in the programs" in text
    rows = [line for line in lines[2:] if line.startswith("  ")]
    assert len(rows) == 10  # every output of the five stages
    for line in rows:
        psnr, cos = float(line.split()[4]), float(line.split()[3])
        assert psnr >= 35 and cos >= 0.999, line


def test_tracking_through_coreml_packages_matches_onnx(tiny_coreml_exports):
    figures = verify.tracking_iou_between(tiny_coreml_exports["fp32"], "mlprogram", "onnx", frames=3)
    print(figures)
    assert figures["min_iou"] >= 0.99


def test_backend_contract_and_batching(fp16_backend, tiny_coreml_exports):
    """The coreml backend's contract: capacities from the manifest; more objects than a package takes per
    call are run in chunks and stacked; wrong shapes and missing inputs are refused with a message."""
    import json

    manifest = json.loads((tiny_coreml_exports["fp16"] / "manifest.json").read_text())
    caps = {k: v for k, v in manifest["formats"]["coreml"]["capacities"].items() if k != "B"}
    assert fp16_backend.capacities == caps and fp16_backend.name == "mlprogram"
    sizes = {**model_sizes(fp16_backend.config), **caps}
    contract = fp16_backend.contracts["memory_encoder"]
    assert contract.max_batch == manifest["formats"]["coreml"]["stages"]["memory_encoder"]["batch"]["max"]
    inputs = example_arrays("memory_encoder", {**sizes, "B": 3}, seed=5)
    together = fp16_backend.run("memory_encoder", inputs)["mem_feats"]
    program, calls = fp16_backend.programs["memory_encoder"], []
    run = program.run
    try:
        program.run = lambda feed, **kw: calls.append(len(feed["low_res_masks"])) or run(feed, **kw)
        contract.max_batch, saved = 2, contract.max_batch
        chunked = fp16_backend.run("memory_encoder", inputs)["mem_feats"]
    finally:
        program.run, contract.max_batch = run, saved
    assert calls == [2, 1] and chunked.shape == together.shape == (3, *together.shape[1:])
    # Same values up to float16 rounding (BLAS blocks a batch of 2 and of 3 differently).
    assert np.abs(chunked - together).max() <= 4e-3 * np.abs(together).max()
    attention = example_arrays("memory_attention", {**sizes, "B": 1, "K": caps["K"] + 1}, seed=5)
    with pytest.raises(InputError, match=r"memory_attention: input cond_mem has shape .* package takes"):
        fp16_backend.run("memory_attention", attention)
    with pytest.raises(InputError, match=r"missing input"):
        fp16_backend.run("mask_prompt", {})


def test_storage_losses_name_the_ops(fp16_backend, tiny_coreml_exports, tiny_stages):
    """The per-op comparison of the fp16 program with its float32-storage run: every float op output gets
    figures; the final outputs' error equals the measured float16 storage error."""
    from runtime.mlprogram.compare import describe, storage_losses, worst_ops

    program = fp16_backend.programs["mask_decoder"]
    sizes = {**model_sizes(fp16_backend.config), **fp16_backend.capacities, "B": 1}
    feeds = example_arrays("mask_decoder", sizes, seed=3)
    losses = storage_losses(program, feeds)
    assert len(losses) > 100 and all(np.isfinite(loss.rel_diff) for loss in losses)
    for line in map(describe, worst_ops(losses)):
        print(line)
    stored, wide = program.run(feeds), program.run(feeds, storage="float32")
    out = next(loss for loss in losses if loss.name == "low_res_masks")
    diff = np.abs(stored["low_res_masks"] - wide["low_res_masks"]).max() / wide["low_res_masks"].std()
    assert out.rel_diff == pytest.approx(diff, rel=1e-6) and 0 < out.rel_diff < 0.1


def test_backend_modules_import_no_torch():
    code = (
        "import sys; import runtime.backends.mlprogram, runtime.backends.packages, runtime.mlprogram; "
        "bad = [m for m in ('torch', 'coremltools') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_fp16_image_encoder_keeps_gates_in_float32(fp16_backend):
    """The fp16 image encoder program: the squeeze-excite gates (ops on [1, C, 1, 1]) are typed float32,
    the feature maps float16."""
    program = fp16_backend.programs["image_encoder"]
    gates = [s for s in program.steps if s.op_type == "sigmoid"]
    assert gates and all(not half for s in gates for _, _, half in s.outputs)
    convs = [s for s in program.steps if s.op_type == "conv"]
    assert sum(half for s in convs for _, _, half in s.outputs) > len(convs) / 2


def test_cli_inspect_lists_every_op_type(tiny_coreml_exports):
    from click.testing import CliRunner

    from edgetam_export.cli import main
    from edgetam_export.to_coreml import op_types

    result = CliRunner().invoke(main, ["inspect", str(tiny_coreml_exports["fp16"])])
    assert result.exit_code == 0, result.output
    package = tiny_coreml_exports["fp16"] / "coreml" / "mask_decoder.mlpackage"
    listed = next(line for line in result.output.splitlines() if "op types" in line and "one_hot" in line)
    assert all(f"{op}×{n}" in listed for op, n in op_types(package).items())
