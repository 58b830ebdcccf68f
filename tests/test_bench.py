"""`edgetam-export bench` on a tiny setting: it runs, and its report is complete and consistent.

Speed is not asserted here (figures on a shared CI machine prove nothing); the benchmark judges its own
targets in the report. What is asserted: every section is present and self-consistent, the FLOP counter
counts attention products, the image encoder runs once per frame with the objects batched through the
per-object stages, and the baselines give the same masks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from benchmarks.flops import count_stage, meta_stages
from benchmarks.report import check_report, judge_targets, markdown
from edgetam_export.cli import main
from edgetam_export.export import ExportOptions, export_all
from reference_model import EdgeTamConfig, WeightsInfo, synthetic_model

TINY = 256  # 16×16 feature map: every stage and both baselines in seconds


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    model, _ = synthetic_model(1, EdgeTamConfig(image_size=TINY))
    out = tmp_path_factory.mktemp("bench") / "export"
    export_all(model, WeightsInfo("synthetic", seed=1), out, ExportOptions(formats=("onnx",)))
    return out


@pytest.fixture(scope="module")
def bench_report(tiny_export):
    out = tiny_export.parent / "report"
    args = ["bench", str(tiny_export), "--out", str(out), "--runs", "2", "--warmup", "1", "--frames", "2"]
    result = CliRunner().invoke(main, [*args, "--objects", "1,2"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, json.loads((out / "bench.json").read_text()), result.output


def test_report_is_complete_and_consistent(bench_report):
    out, report, output = bench_report
    assert check_report(report) == []
    assert [r["stage"] for r in report["stages"]] == [
        "image_encoder",
        "memory_attention",
        "mask_decoder",
        "memory_encoder",
        "mask_prompt",
    ]
    assert report["device"]["cores"] >= 1 and report["device"]["chip"] and report["device"]["compute_units"] == ["CPU"]
    assert report["tool"]["name"] == "edgetam-export bench" and report["setting"]["memory_scope"] == "stage process"
    assert report["setting"]["image_size"] == TINY and report["setting"]["attention"] == "onnxruntime"
    for row in report["stages"]:
        assert row["peak_rss_mb"] > row["rss_before_load_mb"] > 0 and row["load_ms"] > 0
        assert sum(row["op_ms"].values()) > 0 and all(ms >= 0 for ms in row["op_ms"].values())
        assert row["file_mb"] * 1e6 == pytest.approx(
            (out.parent / "export" / "onnx" / f"{row['stage']}.onnx").stat().st_size
        )
    # the printed table is the Markdown written to disk
    md = (out / "bench.md").read_text()
    assert md == markdown(report) and "| image_encoder |" in md and md.strip() in output
    assert "onnxruntime attention" in md.splitlines()[0]
    # the profile finds memory attention's fused kernel, and its table covers every per-frame stage
    assert "MultiHeadAttention" in next(r for r in report["stages"] if r["stage"] == "memory_attention")["op_ms"]
    assert "Where each stage's time goes" in md and "| memory_encoder | " in md.split("Where each stage")[1]
    with Image.open(out / "bench.png") as png:
        assert png.format == "PNG" and png.width > 800
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "a staging folder was left behind"


def test_stages_run_once_per_frame_and_batched(bench_report):
    _, report, _ = bench_report
    for frame in report["frames"]:
        n = frame["objects"]
        assert frame["calls"] == {
            "image_encoder": [1],
            "memory_attention": [n],
            "mask_decoder": [n],
            "memory_encoder": [n],
        }
        assert frame["calls_same_every_frame"]
    one, two = report["frames"]
    assert two["gflop"] > one["gflop"]  # counted from the calls actually made, so objects cost FLOPs
    assert two["bound_ms"] is not None and one["bound_ms"] is None


def test_baselines_measured_side_by_side_with_equal_masks(bench_report):
    _, report, _ = bench_report
    rows = {(b["name"], b["objects"]): b for b in report["baselines"]}
    assert set(rows) == {(n, k) for n in ("transformers eager", "original (sam2)") for k in (1, 2)}
    for row in rows.values():
        assert row["status"] == "measured"
        assert row["min_iou"] >= 0.99, row
    targets = {t["target"]: t for t in report["targets"]}
    assert "speedup over transformers eager" in targets and "min IoU vs transformers eager" in targets
    assert targets["min IoU vs transformers eager"]["met"]


def test_attention_products_are_counted_by_hand():
    """memory_attention's q·kᵀ and p·v, which torch's counter misses on the CPU, follow the formula."""
    cfg = EdgeTamConfig(image_size=TINY)
    stages = meta_stages(cfg.to_dict())
    k, n, r, t, c = 2, 3, cfg.num_maskmem - 1, cfg.num_latents_1d + cfg.num_latents_2d, cfg.hidden_dim
    cost = count_stage(stages, "memory_attention", {"B": 1, "K": k, "N": n})
    queries = cfg.feat_size**2
    keys = (k + r) * t + n * (c // cfg.mem_dim)
    # cross-attention keys carry the padding bias as one more channel (attend_biased_keys)
    self_attention, cross_attention = 2 * queries * queries * 2 * c, 2 * queries * keys * (2 * c + 1)
    layers = cfg.memory_attention_layers
    assert cost.attention_flops == layers * (self_attention + cross_attention)
    assert cost.flops > cost.attention_flops  # projections and MLPs come from torch's counter
    # objects share the first layer's self-attention over the frame's own tokens (computed once)
    two = count_stage(stages, "memory_attention", {"B": 2, "K": k, "N": n})
    assert two.attention_flops == 2 * cost.attention_flops - self_attention
    assert cost.flops < two.flops < 2 * cost.flops


def test_check_report_finds_inconsistencies(bench_report):
    _, report, _ = bench_report
    broken = json.loads(json.dumps(report))
    broken["stages"][0]["roofline_ms"] *= 2
    broken["frames"].pop()
    broken["baselines"][0]["speedup"] = 9.0
    problems = check_report(broken)
    assert any("roofline is not" in p for p in problems)
    assert any("setting.objects asks for" in p for p in problems)
    assert any("speedup is not" in p for p in problems)
    assert check_report({"stages": []})[0].startswith("format_version: None")
    del broken["device"]["chip"]
    assert "device.chip: missing (processor" in check_report(broken)[0]


def test_targets_follow_the_figures(bench_report):
    _, report, _ = bench_report
    fast = json.loads(json.dumps(report))
    for row in fast["stages"]:
        row["median_ms"] = row["roofline_ms"] * 1.1
        row["vs_roofline"] = 1.1
    judged = {t["target"]: t["met"] for t in judge_targets(fast)}
    assert judged["image_encoder within 1.15× of roofline"]
    fast["stages"][0]["vs_roofline"] = 1.2
    assert not {t["target"]: t["met"] for t in judge_targets(fast)}["image_encoder within 1.15× of roofline"]


def test_coreml_harness_refuses_off_macos(tiny_export, tmp_path):
    import sys

    if sys.platform == "darwin":
        pytest.skip("on macOS the harness runs; its refusal is for other systems")
    result = CliRunner().invoke(main, ["bench", str(tiny_export), "--backend", "coreml", "--out", str(tmp_path / "b")])
    assert result.exit_code != 0
    assert "macOS" in result.output and "--backend onnx" in result.output
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objects", "1,x"], "list like 1,2,4"),
        (["--objects", "0"], "between 1 and 6"),
        (["--runs", "1"], "--runs"),
    ],
)
def test_bad_options_are_named(tiny_export, tmp_path, args, message):
    result = CliRunner().invoke(main, ["bench", str(tiny_export), "--out", str(tmp_path / "b"), *args])
    assert result.exit_code != 0 and message in result.output


def test_not_an_export_folder(tmp_path):
    result = CliRunner().invoke(main, ["bench", str(tmp_path / "nothing"), "--out", str(tmp_path / "b")])
    assert result.exit_code != 0 and "not an export folder" in result.output


def test_summary_percentiles():
    from benchmarks.timing import summary_ms

    s = summary_ms([0.001 * v for v in (5, 1, 3, 2, 4)])
    assert s["median_ms"] == pytest.approx(3) and s["min_ms"] == pytest.approx(1) and s["runs"] == 5
    assert s["p90_ms"] == pytest.approx(np.percentile([1, 2, 3, 4, 5], 90))


def test_baseline_weights_must_be_the_exports(tiny_export, tmp_path):
    """The baselines get the export's own weights: a checkpoint export needs its file, and the right one."""
    from edgetam_export.weights import export_source_model
    from runtime.errors import InputError
    from runtime.manifest import load_manifest

    manifest = load_manifest(tiny_export)
    assert export_source_model(manifest) is not None  # synthetic: rebuilt from the recorded seed
    manifest["weights"] = {"kind": "checkpoint", "path": str(tmp_path / "gone.pt"), "sha256": "0" * 64}
    with pytest.raises(InputError, match="pass --checkpoint PATH"):
        export_source_model(manifest)
    model, _ = synthetic_model(2, EdgeTamConfig(image_size=TINY))
    import torch

    torch.save(model.state_dict(), tmp_path / "other.pt")
    with pytest.raises(InputError, match="is not the checkpoint this export was made from"):
        export_source_model(manifest, tmp_path / "other.pt")
