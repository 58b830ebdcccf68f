"""Reading an export folder's manifest.json: the one file the runtime needs besides the model files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import InputError
from .manifest_check import check_manifest

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
# A stage's `quantization.method` when onnxruntime must keep its QuantizeLinear/DequantizeLinear pairs to
# fuse them into integer convolutions (the static int8 ONNX image encoder; edgetam_export.onnx_int8).
STATIC_QDQ_METHOD = "static_qdq_conv"


def load_manifest(folder: str | Path) -> dict:
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise InputError(f"{folder} is not an export folder (expected a folder made by `edgetam-export export`)")
    if not path.is_file():
        raise InputError(f"{folder} has no {MANIFEST}; export with `edgetam-export export --out {folder}`")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid UTF-8 JSON ({exc}); export again") from None
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc.strerror or exc}); export again") from None
    except RecursionError:
        raise InputError(f"{path} is JSON nested too deeply to be a manifest; export again") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise InputError(
            f"{path} has format_version {version!r}, this runtime reads version {FORMAT_VERSION}; "
            "export again with this toolkit's edgetam-export"
        )
    check_manifest(manifest, path)
    return manifest


def format_section(manifest: dict, fmt: str, folder: Path) -> dict:
    section = manifest.get("formats", {}).get(fmt)
    if section is None:
        have = ", ".join(manifest.get("formats", {})) or "none"
        raise InputError(f"{folder} holds no {fmt} export (formats present: {have}); export with --format {fmt}")
    return section


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file, or of a package folder's files in name order (what the manifest records)."""
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(f for f in path.rglob("*") if f.is_file()):
        digest.update(bytes.fromhex(file_sha256(file)))
    return digest.hexdigest()


def stage_files(
    section: dict, folder: Path, stages: Sequence[str] | None = None, check_sha256: bool = True
) -> Iterator[tuple[str, dict, Path]]:
    """(stage, manifest entry, file path) of a format section's stages, or of `stages` only.

    A listed file must exist inside the export folder (a manifest cannot point the runtime at a file
    elsewhere) and, unless `check_sha256` is off, have the sha256 the manifest records: a truncated,
    edited or swapped model file is refused before a runtime parses it.
    """
    root = folder.resolve()
    for stage, entry in section["stages"].items():
        if stages is not None and stage not in stages:
            continue
        name = entry.get("file")
        path = folder / str(name)
        if not isinstance(name, str) or not path.resolve().is_relative_to(root):
            raise InputError(f"{folder / MANIFEST} lists {name!r} for {stage}, outside {folder}; export again")
        if not path.exists():
            raise InputError(f"{folder} lacks {name}, listed in its manifest; export again")
        if path.is_dir():  # a package: none of its files may lead out of the folder either
            outside = [f for f in path.rglob("*") if not f.resolve().is_relative_to(root)]
            if outside:
                raise InputError(f"{path} holds {outside[0].name}, a link to a file outside {folder}; export again")
        if check_sha256 and sha256_file(path) != entry.get("sha256"):
            raise InputError(
                f"{path} does not match the sha256 its manifest records (a truncated, edited or swapped file); "
                "export again"
            )
        yield stage, entry, path
