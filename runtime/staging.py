"""Writing an output folder all at once: build it beside the target, then swap it into place.

A failed or interrupted job leaves the previous folder (or nothing), never a half-written one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(out: Path, error: Callable[[str], Exception]) -> Iterator[Path]:
    """Yield an empty staging folder beside `out`; on success it replaces `out`, on failure it is removed.
    `error` builds the exception raised when the parent folder cannot be written."""
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as exc:
        raise error(f"cannot write to {out.parent}: {exc.strerror or exc}") from exc
    try:
        yield staging
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
