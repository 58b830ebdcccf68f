"""Reading an export folder's manifest.json: the one file the runtime needs besides the model files."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def load_manifest(folder: str | Path) -> dict:
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise InputError(f"{folder} is not an export folder (expected a folder made by `edgetam-export export`)")
    if not path.is_file():
        raise InputError(f"{folder} has no {MANIFEST}; export with `edgetam-export export --out {folder}`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); export again") from exc
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise InputError(
            f"{path} has format_version {version!r}, this runtime reads version {FORMAT_VERSION}; "
            "export again with this toolkit's edgetam-export"
        )
    return manifest


def format_section(manifest: dict, fmt: str, folder: Path) -> dict:
    section = manifest.get("formats", {}).get(fmt)
    if section is None:
        have = ", ".join(manifest.get("formats", {})) or "none"
        raise InputError(f"{folder} holds no {fmt} export (formats present: {have}); export with --format {fmt}")
    return section
