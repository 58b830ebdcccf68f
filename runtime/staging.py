"""Writing an output folder all at once: build it beside the target, then swap it into place.

A failed or interrupted job leaves the previous folder (or nothing), never a half-written one:

- The job writes `.NAME.staging-PID` beside `NAME`. On success the two are exchanged in one atomic
  `renameat2(RENAME_EXCHANGE)` where the OS has it (Linux); elsewhere `NAME` is first renamed to
  `.NAME.old-PID` and the staging folder then renamed to `NAME`.
- A process killed at any point (SIGKILL, power loss) leaves only dot-folders named with its pid. The next
  job on the same target removes those of processes that no longer run; if the kill fell between the two
  renames (`NAME` missing, `.NAME.old-PID` present), the previous folder is put back first. So at every
  instant the previous folder or the new one exists in full, and leftovers never accumulate.
- Running out of disk space (ENOSPC, a quota) while writing ends in `error("no space left ...")`, with the
  staging folder removed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _full_disk(exc: BaseException | None) -> OSError | None:
    """The out-of-space OSError behind `exc` (libraries often wrap it), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL_DISK:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a leftover with our own pid is from an earlier process that had it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's): not ours to remove
    return True


def leftovers(out: Path) -> dict[str, dict[int, Path]]:
    """Staging and old folders beside `out`, by kind ("staging", "old") and the pid that made them."""
    found: dict[str, dict[int, Path]] = {"staging": {}, "old": {}}
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(staging|old)-(\d+)")
    if not out.parent.is_dir():
        return found
    for entry in out.parent.iterdir():
        m = pattern.fullmatch(entry.name)
        if m:
            found[m.group(1)][int(m.group(2))] = entry
    return found


def recover(out: Path) -> list[Path]:
    """Clean up after killed jobs on `out`: restore the previous folder if a swap was cut in half, then
    remove the staging and old folders of processes that no longer run. Returns what was removed."""
    found = leftovers(out)
    dead_old = {pid: p for pid, p in found["old"].items() if not _pid_alive(pid)}
    if not out.exists() and dead_old:
        pid = max(dead_old, key=lambda p: dead_old[p].stat().st_mtime)
        dead_old.pop(pid).rename(out)  # the swap was interrupted: the previous folder comes back whole
    removed = []
    for path in [*dead_old.values(), *(p for pid, p in found["staging"].items() if not _pid_alive(pid))]:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _swap_into_place(staging: Path, out: Path) -> None:
    if out.exists() and _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous folder
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    staging.rename(out)  # killed just before this line: the next job's recover() puts `old` back
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_folder(out: Path, error: Callable[[str], Exception]) -> Iterator[Path]:
    """Yield an empty staging folder beside `out`; on success it replaces `out`, on failure it is removed.
    `error` builds the exception raised when the parent folder cannot be written or the disk is full."""
    out = Path(out)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        recover(out)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as exc:
        raise error(f"cannot write to {out.parent}: {exc.strerror or exc}") from exc
    try:
        try:
            yield staging
            _swap_into_place(staging, out)
        except Exception as exc:
            full = _full_disk(exc)
            if full is None:
                raise
            raise error(
                f"no space left on the device while writing {out} ({full.strerror}); nothing was written "
                "and any previous folder is unchanged: free some space and run again"
            ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
