"""`edgetam-export bench-render`: reports of one schema from any device, rendered side by side.

A Linux/ONNX report (every optional figure present) and a phone-style Core ML report (only what both kinds
of run measure) go through the same schema and render into one table and one chart; a file that is not a
report is refused with every problem named. The last test renders JSON written by the Swift benchmark.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from benchmarks import compare
from benchmarks.chart import PALETTE
from benchmarks.schema import FIELDS, FORMAT_VERSION, validate
from edgetam_export.cli import main

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("image_encoder", "memory_attention", "mask_decoder", "memory_encoder", "mask_prompt")


def _stage(name: str, median: float, load: float, extra: dict | None = None) -> dict:
    return {
        "stage": name,
        "batch": 1,
        "median_ms": median,
        "p90_ms": median * 1.1,
        "runs": 10,
        "load_ms": load,
        "peak_rss_mb": 200.0 + median,
        **(extra or {}),
    }


def _frame(n: int, median: float) -> dict:
    return {"objects": n, "first_frame_ms": median * 1.3, "median_ms": median, "p90_ms": median * 1.05, "runs": 8}


def linux_report() -> dict:
    """What `edgetam-export bench` writes on this machine, every optional figure included."""
    stages = []
    for i, name in enumerate(STAGES):
        median = 300.0 / (i + 1)
        roofline = median / 1.4
        extra = {"gflop": 10.0, "roofline_ms": roofline, "vs_roofline": median / roofline, "op_ms": {"Conv": 1.0}}
        stages.append(_stage(name, median, 40.0 + i, extra))
    frames = [
        {**_frame(n, 1400.0 * n), "gflop": 140.0 * n, "roofline_ms": 900.0 * n, "vs_roofline": 1.55} for n in (1, 2, 4)
    ]
    return {
        "format_version": FORMAT_VERSION,
        "created": "2026-11-30T16:00:00Z",
        "tool": {"name": "edgetam-export bench", "version": "0.5.0"},
        "device": {
            "kind": "linux",
            "model": "x86_64 Linux machine",
            "chip": "Intel Xeon Test CPU",
            "os": "Linux-6.18",
            "cores": 2,
            "memory_gb": 23.5,
            "compute_units": ["CPU"],
            "python": "3.11.7",
            "packages": {"onnxruntime": "1.31.1"},
        },
        "setting": {
            "backend": "onnx",
            "compute_units": None,
            "precision": "fp32",
            "image_size": 1024,
            "warmup": 2,
            "runs": 10,
            "tracked_frames": 8,
            "objects": [1, 2, 4],
            "memory_scope": "stage process",
            "threads": 2,
        },
        "gemm": {"m": 2048, "k": 2048, "n": 2048, "gflop_per_s": 150.0},
        "stages": stages,
        "frames": frames,
        "baselines": [],
        "targets": [],
    }


def phone_report() -> dict:
    """What the Swift benchmark writes on an iPhone: only the figures both kinds of run have."""
    return {
        "format_version": FORMAT_VERSION,
        "created": "2026-11-30T16:05:00Z",
        "tool": {"name": "edgetam-bench", "version": "0.5.0"},
        "device": {
            "kind": "iphone",
            "model": "iPhone16,2",
            "chip": "Apple A17 Pro",
            "os": "iOS 18.1",
            "cores": 6,
            "compute_units": ["CPU", "GPU", "Neural Engine"],
        },
        "setting": {
            "backend": "coreml",
            "compute_units": "CPU_AND_NE",
            "precision": "fp16",
            "image_size": 1024,
            "warmup": 3,
            "runs": 20,
            "tracked_frames": 8,
            "objects": [1, 2, 4],
            "memory_scope": "benchmark process",
        },
        "stages": [_stage(name, 12.5 / (i + 1), 900.0 + i) for i, name in enumerate(STAGES[:4])],
        "frames": [_frame(n, 60.0 * n) for n in (1, 2, 4)],
    }


def _write(tmp_path: Path, name: str, report: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(report) if not isinstance(report, str) else report)
    return path


def _render(*paths: Path, out: Path):
    return CliRunner().invoke(main, ["bench-render", *map(str, paths), "--out", str(out)])


def test_both_kinds_of_report_fit_the_schema():
    assert validate(linux_report()) == []
    assert validate(phone_report()) == []


def test_renders_side_by_side(tmp_path):
    linux, phone = _write(tmp_path, "linux.json", linux_report()), _write(tmp_path, "phone.json", phone_report())
    out = tmp_path / "render"
    result = _render(linux, phone, out=out)
    assert result.exit_code == 0, result.output
    md = (out / "side_by_side.md").read_text()
    assert md in result.output
    header = next(line for line in md.splitlines() if line.startswith("| |"))
    assert "A: Intel Xeon Test CPU · onnx CPU fp32" in header and "B: iPhone16,2 · coreml CPU_AND_NE fp16" in header
    # a stage both measured: both cells; the roofline only where the report has it
    assert "| image_encoder | 300.0 / 330.0, 1.40× roofline | 12.5 / 13.8 |" in md
    # a stage only the Linux report timed: a dash in the phone's column, never a zero
    assert re.search(r"\| mask_prompt \| [\d.]+ / [\d.]+, 1\.40× roofline \| – \|", md)
    assert "| 4 | 5,600.0 / 5,880.0, 1.55× roofline; first frame 7,280.0 | 240.0 / 252.0; first frame 312.0 |" in md
    assert "| all stages | 210 | 3,606 |" in md  # load times summed per report
    assert "CPU, GPU, Neural Engine" in md and "B: the benchmark's one process" in md
    with Image.open(out / "side_by_side.png") as png:
        colours = {c for _, c in png.convert("RGB").getcolors(maxcolors=png.width * png.height)}
    for hex_colour in PALETTE[:2]:  # one colour per report, both drawn
        assert tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)) in colours
    assert sorted(p.name for p in out.iterdir()) == ["side_by_side.md", "side_by_side.png"]


def test_one_report_renders_the_same_table(tmp_path):
    out = tmp_path / "one"
    result = _render(_write(tmp_path, "phone.json", phone_report()), out=out)
    assert result.exit_code == 0, result.output
    assert (out / "side_by_side.md").read_text() == compare.markdown([phone_report()])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["stages"][0].pop("load_ms"), "stages[0].load_ms: missing (model load"),
        (lambda r: r["device"].update(cores="six"), 'device.cores: expected an integer, got "six"'),
        (lambda r: r["frames"][1].update(median_ms=True), "frames[1].median_ms: expected a number, got true"),
        (lambda r: r["setting"].update(compute_units="NPU"), "setting.compute_units: 'NPU', not one of CPU_ONLY"),
        (lambda r: r["frames"].pop(), "frames: rows for [1, 2] objects, setting.objects asks for [1, 2, 4]"),
        (lambda r: r["stages"][2].update(p90_ms=1.0), "stages[2].p90_ms: 1.0 is below median_ms"),
        (lambda r: r.update(format_version=1), "format_version: 1, this toolkit reads version 2; run the benchmark"),
        (lambda r: r.pop("device"), "device: missing"),
    ],
)
def test_a_bad_report_is_refused_naming_the_problem(tmp_path, edit, message):
    report = copy.deepcopy(phone_report())
    edit(report)
    bad = _write(tmp_path, "bad.json", report)
    result = _render(_write(tmp_path, "linux.json", linux_report()), bad, out=tmp_path / "out")
    assert result.exit_code != 0
    assert f"{bad} is not a benchmark report" in result.output and message in result.output
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize(("text", "message"), [("{not json", "not JSON"), ("[1, 2]", "not a JSON object")])
def test_not_json_or_not_an_object(tmp_path, text, message):
    result = _render(_write(tmp_path, "x.json", text), out=tmp_path / "out")
    assert result.exit_code != 0 and message in result.output and "x.json" in result.output


def test_a_missing_file_is_named(tmp_path):
    result = _render(tmp_path / "gone.json", out=tmp_path / "out")
    assert result.exit_code != 0 and "gone.json: cannot be read" in result.output


def test_readme_documents_every_field():
    """benchmarks/README.md's schema table lists exactly the schema's fields, with the same required flags."""
    text = (ROOT / "benchmarks" / "README.md").read_text()
    table = text.split("## The report (bench.json)")[1].split("\n## ")[0]
    documented = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            documented[cells[0].strip("`")] = cells[1] == "yes"
    assert documented == {f.path: f.required for f in FIELDS}


SWIFT_PACKAGE = ROOT / "ios_demo"


def contract_manifest(folder: Path, image_size: int = 64) -> Path:
    """An export folder's manifest.json with a Core ML section (capacities fixed, memory encoder one object
    per call) whose contracts come from runtime.contract: all the stand-in runner reads. No model files."""
    from reference_model import EdgeTamConfig
    from runtime.contract import STAGES, contract, model_sizes
    from runtime.manifest import FORMAT_VERSION as MANIFEST_VERSION

    config = EdgeTamConfig(image_size=image_size).to_dict()
    sizes = model_sizes(config)
    caps = {"K": 2, "N": 17, "P": 4}
    stages = {}
    for name, stage in STAGES.items():
        batch = {"min": 1, "max": 1 if name in ("image_encoder", "memory_encoder") else 8}
        record = contract(stage, {**sizes, **caps})
        entry = {"file": f"coreml/{name}.mlpackage", "bytes": 1, "sha256": "0" * 64, "batch": batch}
        stages[name] = {**entry, "inputs": record["inputs"], "outputs": record["outputs"]}
    manifest = {
        "format_version": MANIFEST_VERSION,
        "toolkit": {"name": "edgetam-export", "version": "test"},
        "model": {"family": "edgetam", "config": config},
        "weights": {"kind": "synthetic", "seed": 1},
        "preprocessing": {
            "image_size": image_size,
            "resize": "bilinear",
            "scale": 1 / 255,
            "mean": [0.5] * 3,
            "std": [0.25] * 3,
        },
        "memory_bank": {
            "recent_slots": sizes["R"],
            "memory_tokens": sizes["T"],
            "memory_dim": sizes["M"],
            "memory_dtype": "bfloat16",
            "max_object_pointers": config["max_obj_ptrs_in_encoder"],
        },
        "formats": {
            "coreml": {
                "precision": "fp16",
                "deployment_target": "iOS17",
                "capacities": {"B": [1, 8], **caps},
                "stages": stages,
            }
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _swift() -> str:
    """The Swift toolchain, which `make test` needs (the Swift half of the suite builds with it)."""
    found = shutil.which("swift") or next((p for p in ["/opt/swift/usr/bin/swift"] if Path(p).exists()), None)
    assert found, "no Swift toolchain: install Swift 6 (swift on PATH or /opt/swift), as the README says"
    return found


def test_swift_benchmark_json_renders_beside_a_linux_report(tmp_path):
    """The Swift command line's stand-in run writes JSON this schema accepts, and bench-render draws it beside
    a Linux report: the two implementations of the schema agree. (Build the package first, `swift build` in
    ios_demo, or this test pays for the build.)"""
    folder = contract_manifest(tmp_path / "export")
    out = tmp_path / "swift.json"
    args = [_swift(), "run", "--package-path", str(SWIFT_PACKAGE), "edgetam-bench", str(folder), "--stand-in"]
    run = subprocess.run(
        [*args, "--runs", "3", "--warmup", "1", "--frames", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert validate(report) == []
    assert report["tool"]["name"] == "edgetam-bench" and report["setting"]["memory_scope"] == "benchmark process"
    assert report["setting"]["backend"] == "stand-in" and report["setting"]["compute_units"] is None
    assert [r["stage"] for r in report["stages"]] == list(STAGES)
    assert report["stages"][1]["sizes"] == {"B": 1, "K": 2, "N": 17, "P": 4}  # the export's capacities
    assert [f["objects"] for f in report["frames"]] == [1, 2, 4]
    for frame in report["frames"]:
        n = frame["objects"]
        calls = {"image_encoder": [1], "memory_attention": [n], "mask_decoder": [n], "memory_encoder": [n]}
        assert frame["calls"] == calls and frame["calls_same_every_frame"]
    result = _render(_write(tmp_path, "linux.json", linux_report()), out, out=tmp_path / "render")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "render" / "side_by_side.md").read_text()
    assert "B: " in md and "stand-in CPU fp16" in md and "edgetam-bench test" in md


def test_swift_refuses_a_bad_export_folder(tmp_path):
    run = subprocess.run(
        [
            _swift(),
            "run",
            "--package-path",
            str(SWIFT_PACKAGE),
            "edgetam-bench",
            str(tmp_path),
            "--stand-in",
            "--out",
            str(tmp_path / "x.json"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 1 and "manifest.json" in run.stderr and not (tmp_path / "x.json").exists()
