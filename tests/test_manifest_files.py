"""The runtime opens only the model files its manifest lists, inside the export folder, with the recorded sha256."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.errors import InputError
from runtime.manifest import MANIFEST, sha256_file, stage_files


def export_folder(root: Path, file: str = "onnx/image_encoder.onnx", content: bytes = b"graph bytes") -> dict:
    folder = root / "export"
    (folder / "onnx").mkdir(parents=True)
    (folder / "onnx" / "image_encoder.onnx").write_bytes(content)
    section = {"stages": {"image_encoder": {"file": file, "sha256": sha256_file(folder / "onnx/image_encoder.onnx")}}}
    (folder / MANIFEST).write_text(json.dumps({"formats": {"onnx": section}}))
    return section


def test_a_listed_file_with_its_recorded_sha256_is_opened(tmp_path) -> None:
    section = export_folder(tmp_path)
    [(stage, _, path)] = stage_files(section, tmp_path / "export")
    assert stage == "image_encoder" and path.read_bytes() == b"graph bytes"


def test_a_truncated_or_swapped_file_is_refused_before_it_is_parsed(tmp_path) -> None:
    section = export_folder(tmp_path)
    (tmp_path / "export/onnx/image_encoder.onnx").write_bytes(b"graph by")
    with pytest.raises(InputError, match="does not match the sha256 its manifest records"):
        list(stage_files(section, tmp_path / "export"))
    assert len(list(stage_files(section, tmp_path / "export", check_sha256=False))) == 1


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "onnx/../../secret.onnx"])
def test_a_path_outside_the_folder_is_refused(tmp_path, name) -> None:
    section = export_folder(tmp_path, file=name)
    (tmp_path / "secret.onnx").write_bytes(b"x")
    with pytest.raises(InputError, match="outside"):
        list(stage_files(section, tmp_path / "export"))


def test_a_symlink_out_of_the_folder_is_refused(tmp_path) -> None:
    section = export_folder(tmp_path)
    target = tmp_path / "elsewhere.onnx"
    target.write_bytes(b"graph bytes")
    link = tmp_path / "export/onnx/image_encoder.onnx"
    link.unlink()
    link.symlink_to(target)
    with pytest.raises(InputError, match="outside"):
        list(stage_files(section, tmp_path / "export"))


def test_a_package_folder_hashes_its_files_in_name_order(tmp_path) -> None:
    package = tmp_path / "stage.mlpackage"
    (package / "Data").mkdir(parents=True)
    (package / "Manifest.json").write_text("{}")
    (package / "Data" / "weights.bin").write_bytes(b"\x00" * 10)
    before = sha256_file(package)
    (package / "Data" / "weights.bin").write_bytes(b"\x00" * 9 + b"\x01")
    assert sha256_file(package) != before
