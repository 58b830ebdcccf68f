"""Damaged and hostile export folders (manifest.json, .onnx files, .mlpackage packages) through
`edgetam-export track`, `inspect` and `verify`: one message naming the file and what is wrong, a non-zero
exit status, no traceback, and the previous output folder untouched (no partial one beside it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from edgetam_export.clip import synthetic_clip
from runtime.contract import STAGES, contract, model_sizes
from runtime.manifest import sha256_file
from tests.faults.mutate import assert_clean, assert_refused, cli, count, flip_bits, snapshot, truncate

H, W = 40, 48


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(synthetic_clip(3, H, W)):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def previous_run(onnx_export_256, frames_dir, tmp_path_factory) -> Path:
    """An output folder of an earlier, successful track run (a refused run must leave it as it is)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    result = cli("track", onnx_export_256[2], frames_dir, "--point", "20,20", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    return out


def linked_copy(src: Path, dst: Path) -> Path:
    """A copy whose files are hard links (cheap); `own` a file before changing it in place."""
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


def own(path: Path) -> Path:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    return path


def edit_manifest(folder: Path, edit) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    own(folder / "manifest.json").write_text(json.dumps(manifest))


def stage(manifest: dict, name: str = "mask_decoder") -> dict:
    return manifest["formats"]["onnx"]["stages"][name]


def _set(path: str, value):
    def edit(m):
        *parents, last = path.split(".")
        for p in parents:
            m = m[p]
        if value is KeyError:
            del m[last]
        else:
            m[last] = value

    return edit


MANIFEST_MUTATIONS = {
    "truncated": lambda f: truncate(own(f / "manifest.json"), 0.5),
    "not_utf8": lambda f: own(f / "manifest.json").write_bytes(b'{"format_version": 1, "x": "\xff\xfe"}'),
    "a_list": lambda f: own(f / "manifest.json").write_text("[]"),
    "nested_too_deep": lambda f: own(f / "manifest.json").write_text("[" * 100_000 + "]" * 100_000),
    "format_version_2": lambda f: edit_manifest(f, _set("format_version", 2)),
    "no_model": lambda f: edit_manifest(f, _set("model", KeyError)),
    "no_formats": lambda f: edit_manifest(f, _set("formats", KeyError)),
    "no_weights": lambda f: edit_manifest(f, _set("weights", KeyError)),
    "no_toolkit": lambda f: edit_manifest(f, _set("toolkit", KeyError)),
    "no_preprocessing": lambda f: edit_manifest(f, _set("preprocessing", KeyError)),
    "formats_empty": lambda f: edit_manifest(f, _set("formats", {})),
    "image_size_text": lambda f: edit_manifest(f, _set("model.config.image_size", "256")),
    "image_size_other": lambda f: edit_manifest(
        f, lambda m: (_set("model.config.image_size", 512)(m), _set("preprocessing.image_size", 512)(m))
    ),
    "hidden_dim_zero": lambda f: edit_manifest(f, _set("model.config.hidden_dim", 0)),
    "num_maskmem_bool": lambda f: edit_manifest(f, _set("model.config.num_maskmem", True)),
    "multimask_text": lambda f: edit_manifest(f, _set("model.config.multimask_output_in_sam", "yes")),
    "capacity_negative": lambda f: edit_manifest(f, _set("formats.onnx.capacities.K", -1)),
    "capacities_missing": lambda f: edit_manifest(f, _set("formats.onnx.capacities", KeyError)),
    "stage_missing": lambda f: edit_manifest(f, _set("formats.onnx.stages.mask_prompt", KeyError)),
    "stage_unknown": lambda f: edit_manifest(f, lambda m: m["formats"]["onnx"]["stages"].update(extra={})),
    "file_escapes": lambda f: edit_manifest(f, lambda m: stage(m).update(file="../../../../etc/passwd")),
    "file_absolute": lambda f: edit_manifest(f, lambda m: stage(m).update(file="/etc/passwd")),
    "file_not_text": lambda f: edit_manifest(f, lambda m: stage(m).update(file=42)),
    "sha256_malformed": lambda f: edit_manifest(f, lambda m: stage(m).update(sha256="abc")),
    "sha256_other": lambda f: edit_manifest(f, lambda m: stage(m).update(sha256="0" * 64)),
    "contract_edited": lambda f: edit_manifest(f, lambda m: stage(m)["inputs"][0].update(shape=[1, 2, 3])),
    "inputs_not_a_list": lambda f: edit_manifest(f, lambda m: stage(m).update(inputs="x")),
    "precision_not_text": lambda f: edit_manifest(f, _set("formats.onnx.precision", 16)),
}


def _swap(folder: Path) -> None:
    a, b = folder / "onnx/mask_decoder.onnx", folder / "onnx/memory_encoder.onnx"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.unlink(), b.unlink()
    a.write_bytes(data_b), b.write_bytes(data_a)


def _link_out(folder: Path) -> None:
    outside = folder.parent / "elsewhere.onnx"
    shutil.copyfile(folder / "onnx/mask_decoder.onnx", outside)
    (folder / "onnx/mask_decoder.onnx").unlink()
    (folder / "onnx/mask_decoder.onnx").symlink_to(outside)


def _directory(folder: Path) -> None:
    (folder / "onnx/mask_decoder.onnx").unlink()
    (folder / "onnx/mask_decoder.onnx").mkdir()


FILE_MUTATIONS = {
    "truncated": lambda f: truncate(own(f / "onnx/mask_decoder.onnx"), 0.5),
    "empty": lambda f: truncate(own(f / "onnx/mask_decoder.onnx"), 0),
    "bit_flips": lambda f: flip_bits(own(f / "onnx/mask_decoder.onnx"), 0, flips=16),
    "swapped_stages": _swap,
    "deleted": lambda f: (f / "onnx/mask_decoder.onnx").unlink(),
    "symlink_out_of_the_folder": _link_out,
    "a_directory": _directory,
}


def assert_untouched(out: Path, before: dict) -> None:
    assert snapshot(out) == before, "the previous output folder or its siblings changed"


@pytest.mark.parametrize("name", MANIFEST_MUTATIONS)
def test_a_damaged_manifest_is_refused(onnx_export_256, frames_dir, previous_run, tmp_path, name) -> None:
    folder = linked_copy(onnx_export_256[2], tmp_path / "export")
    MANIFEST_MUTATIONS[name](folder)
    before = snapshot(previous_run)
    track = cli("track", folder, frames_dir, "--point", "20,20", "--out", previous_run, "--no-progress")
    assert_refused(track, str(folder))
    assert_untouched(previous_run, before)
    assert_refused(cli("inspect", folder), str(folder))
    count("export_mutations", 2)


@pytest.mark.parametrize("name", FILE_MUTATIONS)
def test_a_damaged_model_file_is_refused(onnx_export_256, frames_dir, previous_run, tmp_path, name) -> None:
    folder = linked_copy(onnx_export_256[2], tmp_path / "export")
    FILE_MUTATIONS[name](folder)
    before = snapshot(previous_run)
    track = cli("track", folder, frames_dir, "--point", "20,20", "--out", previous_run, "--no-progress")
    out = assert_refused(track, "mask_decoder.onnx", "memory_encoder.onnx")
    assert "sha256" in out or "outside" in out or "lacks" in out
    assert_untouched(previous_run, before)
    assert_refused(cli("inspect", folder), "mask_decoder.onnx", "memory_encoder.onnx")
    count("export_mutations", 2)


@pytest.mark.parametrize(
    ("name", "expected"), [("truncated", "onnxruntime cannot load"), ("swapped_stages", "another stage")]
)
def test_without_the_sha256_check_onnxruntime_failures_still_end_in_a_message(
    onnx_export_256, frames_dir, previous_run, tmp_path, name, expected
) -> None:
    folder = linked_copy(onnx_export_256[2], tmp_path / "export")
    FILE_MUTATIONS[name](folder)
    before = snapshot(previous_run)
    args = ("track", folder, frames_dir, "--point", "20,20", "--out", previous_run, "--no-progress")
    out = assert_refused(cli(*args, "--no-verify-files"), "mask_decoder.onnx", "memory_encoder.onnx")
    assert expected in out
    assert_untouched(previous_run, before)
    count("export_mutations")


@pytest.mark.parametrize("seed", range(3))
def test_bit_flips_without_the_sha256_check_run_or_are_refused_cleanly(
    onnx_export_256, frames_dir, tmp_path, seed
) -> None:
    folder = linked_copy(onnx_export_256[2], tmp_path / "export")
    flip_bits(own(folder / "onnx/memory_encoder.onnx"), seed, flips=32)
    args = ("track", folder, frames_dir, "--point", "20,20", "--out", tmp_path / "run", "--no-progress")
    assert_clean(cli(*args, "--no-verify-files"))
    count("export_mutations")


def test_verify_refuses_a_damaged_export_by_name(onnx_export_256, tmp_path) -> None:
    folder = linked_copy(onnx_export_256[2], tmp_path / "export")
    truncate(own(folder / "onnx/mask_decoder.onnx"), 0.5)
    assert_refused(cli("verify", folder), "mask_decoder.onnx")
    edit_manifest(folder, _set("weights", KeyError))
    assert_refused(cli("verify", folder), "manifest.json")
    count("export_mutations", 2)


# --------------------------------------------------------------------------------------- .mlpackage


def add_coreml_section(folder: Path, content: bytes = b"not a model") -> Path:
    """A coreml section whose packages hold `content` (with matching sha256): what inspect then reads."""
    manifest = json.loads((folder / "manifest.json").read_text())
    caps = {"K": 4, "N": 19, "P": 16}
    sizes = {**model_sizes(manifest["model"]["config"]), **caps}
    entries = {}
    for name in STAGES:
        package = folder / "coreml" / f"{name}.mlpackage"
        (package / "Data").mkdir(parents=True)
        (package / "Manifest.json").write_text("{}")
        (package / "Data" / "model.mlmodel").write_bytes(content)
        record = contract(STAGES[name], sizes)
        entries[name] = {"file": f"coreml/{name}.mlpackage", "bytes": 1, "sha256": sha256_file(package), **record}
    manifest["formats"]["coreml"] = {"precision": "fp16", "capacities": {"B": [1, 8], **caps}, "stages": entries}
    own(folder / "manifest.json").write_text(json.dumps(manifest))
    return folder / "coreml" / "mask_decoder.mlpackage"


def test_damaged_core_ml_packages_are_refused_by_name(onnx_export_256, tmp_path) -> None:
    folder = linked_copy(onnx_export_256[2], tmp_path / "export")
    package = add_coreml_section(folder)
    assert_refused(cli("inspect", folder), "image_encoder.mlpackage")  # unparseable, sha256 as recorded
    (package / "Data" / "model.mlmodel").write_bytes(b"edited")
    for first in ("image_encoder", "memory_attention"):
        (folder / "coreml" / f"{first}.mlpackage" / "Data" / "model.mlmodel").unlink()
        (folder / "coreml" / f"{first}.mlpackage" / "Data" / "model.mlmodel").write_bytes(b"edited")
    out = assert_refused(cli("inspect", folder), "image_encoder.mlpackage")
    assert "sha256" in out
    count("export_mutations", 2)


def test_a_link_out_of_a_package_is_refused(onnx_export_256, tmp_path) -> None:
    folder = linked_copy(onnx_export_256[2], tmp_path / "export")
    add_coreml_section(folder)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"secret")
    weights = folder / "coreml" / "image_encoder.mlpackage" / "Data" / "model.mlmodel"
    weights.unlink()
    weights.symlink_to(secret)
    out = assert_refused(cli("inspect", folder), "image_encoder.mlpackage")
    assert "outside" in out
    count("export_mutations")
