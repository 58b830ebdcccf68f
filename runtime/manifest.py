"""Reading an export folder's manifest.json: the one file the runtime needs besides the model files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
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


def stage_files(section: dict, folder: Path, stages: Sequence[str] | None = None) -> Iterator[tuple[str, dict, Path]]:
    """(stage, manifest entry, file path) of a format section's stages, or of `stages` only; a listed file
    that is missing is an error naming it."""
    for stage, entry in section["stages"].items():
        if stages is not None and stage not in stages:
            continue
        path = folder / entry["file"]
        if not path.exists():
            raise InputError(f"{folder} lacks {entry['file']}, listed in its manifest; export again")
        yield stage, entry, path
