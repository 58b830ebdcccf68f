"""The benchmark chart: a hand-made report (with missing measurements) renders to a real, non-blank PNG."""

from __future__ import annotations

from PIL import Image

from benchmarks.chart import draw_chart


def _report() -> dict:
    stage = {"batch": 1, "gflop": 1.0, "attention_gflop": 0.0, "params_m": 1.0, "file_mb": 2.0, "peak_rss_mb": 250.0}
    calls = {"image_encoder": [1], "memory_attention": [1], "mask_decoder": [1], "memory_encoder": [1]}
    return {
        "format_version": 2,
        "created": "2026-11-22T05:10:00Z",
        "device": {
            "kind": "linux",
            "model": "Test PC",
            "chip": "Intel Xeon Test CPU",
            "compute_units": ["CPU"],
            "cores": 2,
            "memory_gb": 23.5,
            "os": "Linux-test",
            "python": "3.11.7",
            "packages": {"onnxruntime": "1.31.1"},
        },
        "setting": {
            "backend": "onnx",
            "compute_units": None,
            "export": "build/x",
            "precision": "fp32",
            "image_size": 1024,
            "threads": 2,
            "warmup": 2,
            "runs": 10,
            "tracked_frames": 8,
            "objects": [1, 2],
        },
        "gemm": {"m": 2048, "k": 2048, "n": 2048, "gflop_per_s": 194.3},
        "stages": [
            {
                **stage,
                "stage": "image_encoder",
                "median_ms": 340.0,
                "p90_ms": 360.0,
                "roofline_ms": 191.0,
                "vs_roofline": 1.78,
            },
            {
                **stage,
                "stage": "memory_attention",
                "median_ms": 120.0,
                "p90_ms": 131.0,
                "roofline_ms": None,
                "vs_roofline": None,
            },
            {
                **stage,
                "stage": "mask_decoder",
                "median_ms": 12.5,
                "p90_ms": None,
                "roofline_ms": 4.0,
                "vs_roofline": 3.1,
            },
        ],
        "frames": [
            {
                "objects": 1,
                "first_frame_ms": 900.0,
                "median_ms": 1100.0,
                "p90_ms": 1200.0,
                "gflop": 140.0,
                "roofline_ms": 720.0,
                "vs_roofline": 1.53,
                "bound_ms": None,
                "calls": calls,
            },
            {
                "objects": 2,
                "first_frame_ms": None,
                "median_ms": 1300.0,
                "p90_ms": 1420.0,
                "gflop": 180.0,
                "roofline_ms": None,
                "vs_roofline": None,
                "bound_ms": None,
                "calls": calls,
            },
        ],
        "baselines": [
            {
                "name": "transformers eager",
                "objects": 1,
                "status": "measured",
                "version": "5.23.0",
                "first_frame_ms": 1500.0,
                "median_ms": 1450.0,
                "p90_ms": 1500.0,
                "speedup": 1.32,
                "min_iou": 0.999,
            },
            {"name": "original (sam2)", "objects": 1, "status": "not installed"},
        ],
        "targets": [{"target": "frame vs roofline", "value": 1.2, "limit": 1.15, "met": False}],
    }


def test_draw_chart_writes_a_png(tmp_path):
    out = tmp_path / "chart.png"
    draw_chart(_report(), out)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png"]  # no temporary file left behind
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert 1200 <= img.width <= 1600 and 800 <= img.height <= 1000
        assert len(img.convert("RGB").getcolors(maxcolors=img.width * img.height)) > 2


def test_draw_chart_replaces_an_existing_file(tmp_path):
    out = tmp_path / "chart.png"
    out.write_bytes(b"stale")
    draw_chart({"stages": [], "frames": [], "baselines": []}, out)  # an empty report still renders
    with Image.open(out) as img:
        assert img.format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png"]
