"""Mutations of files and the checks every refusal must pass (through the command line)."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

from edgetam_export.cli import main

FIGURES = Path(__file__).resolve().parents[2] / "build" / "faults" / "figures.json"


def count(key: str, n: int = 1) -> None:
    """Tally of faults injected, for the report (build/faults/figures.json)."""
    figures = json.loads(FIGURES.read_text()) if FIGURES.is_file() else {}
    figures[key] = figures.get(key, 0) + n
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=1))


def truncate(path: Path, keep: float | int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * len(data)) if isinstance(keep, float) else keep])


def flip_bits(path: Path, seed: int, flips: int = 8, start: int = 0, end: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for pos in rng.integers(start, end or len(data), flips):
        data[pos] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(data))


def png_with_size(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares width×height (and holds almost no data): a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (and its siblings' names) with its sha256: what a refusal must leave as it was."""
    files = {}
    if folder.exists():
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                files[str(f.relative_to(folder))] = hashlib.sha256(f.read_bytes()).hexdigest()
    siblings = sorted(p.name for p in folder.parent.iterdir()) if folder.parent.exists() else []
    return {"files": files, "siblings": siblings}


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result: Result, *names: str) -> str:
    """One clear message: exit status non-zero through click (no exception escaped), no traceback, and the
    message names the file (any of `names`)."""
    out = result.output
    assert result.exit_code != 0, f"accepted: {out[-2000:]}"
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}: {out[-2000:]}"
    assert "Traceback" not in out, out
    assert "weights_only=False" not in out and "add_safe_globals" not in out, out
    assert any(n in out for n in names), f"the message does not name {names}: {out[-2000:]}"
    return out


def assert_clean(result: Result) -> None:
    """For mutations that may go unnoticed (a bit flipped inside weights or pixels): success, or a clean refusal."""
    if result.exit_code == 0:
        return
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}: {result.output[-2000:]}"
    assert "Traceback" not in result.output, result.output
