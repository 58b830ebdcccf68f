"""Killed and starved processes: `track` and `export` killed with SIGKILL at random moments leave the
previous output folder intact (or the complete new one), never a partial one in its place; the next run
succeeds and removes the leftovers. A swap cut between its two renames loses nothing. A full disk (an
injected ENOSPC, and a real small tmpfs where this user may mount one) ends in one message, nothing
half-written. EDGETAM_SOAK=1 kills many more times."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgetam_export.clip import synthetic_clip
from runtime.manifest import load_manifest, stage_files
from runtime.staging import leftovers, recover, staged_folder
from tests.faults.mutate import assert_refused, cli, count, snapshot

ROOT = Path(__file__).resolve().parent.parent
SOAK = os.environ.get("EDGETAM_SOAK") == "1"
TRACK_KILLS = 40 if SOAK else 6
EXPORT_KILLS = 10 if SOAK else 2
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
CHILD = [sys.executable, "-c", "from edgetam_export.cli import main; main()"]


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(synthetic_clip(10, 40, 48)):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    return folder


def run_killed(args: list, delay: float) -> bool:
    """Start the CLI in a child process and SIGKILL it after `delay` s; False if it finished first."""
    child = subprocess.Popen(CHILD + [str(a) for a in args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        child.wait(timeout=delay)
        assert child.returncode == 0, child.stderr.read().decode()[-2000:]
        return False
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
        return True
    finally:
        child.stderr.close()


def complete_track_output(out: Path) -> bool:
    names = {p.name for p in out.iterdir()}
    if names != {"summary.json", "masks.npz", "overlay.mp4"}:
        return False
    json.loads((out / "summary.json").read_text())
    with np.load(out / "masks.npz") as data:
        return int(data["height"]) == 40
    return True


def test_killed_track_runs_leave_the_previous_output_or_the_whole_new_one(onnx_export_256, frames_dir, tmp_path):
    export = onnx_export_256[2]
    out = tmp_path / "run"
    args = ["track", export, frames_dir, "--point", "20,20", "--out", out, "--no-progress"]
    assert cli(*args).exit_code == 0
    started = time.perf_counter()
    assert not run_killed(args, 600)  # a whole run in a child process: how long the kills have to land in
    whole = time.perf_counter() - started
    rng = np.random.default_rng(7)
    kills = 0
    for _ in range(TRACK_KILLS):
        before = snapshot(out)["files"]
        killed = run_killed(args, float(rng.uniform(0.05, 0.98)) * whole)
        kills += killed
        after = snapshot(out)["files"]
        assert after == before or complete_track_output(out), f"partial output after a kill: {sorted(after)}"
    count("track_kills", kills)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert complete_track_output(out)
    assert leftovers(out) == {"staging": {}, "old": {}}, "the next run left earlier runs' leftovers"
    assert kills >= TRACK_KILLS // 2, "most runs finished before their kill: the delays are too long"


def complete_export(folder: Path) -> bool:
    manifest = load_manifest(folder)
    return len(list(stage_files(manifest["formats"]["onnx"], folder))) == 5  # every file with its sha256


def test_killed_exports_leave_the_previous_export_intact(onnx_export_256, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(onnx_export_256[2], out, copy_function=os.link)
    before = snapshot(out)["files"]
    args = ["export", "--random-init", "--seed", "3", "--image-size", "256", "--format", "onnx", "--out", out]
    rng = np.random.default_rng(11)
    kills = 0
    for _ in range(EXPORT_KILLS):
        kills += run_killed(args, float(rng.uniform(2.0, 25.0 if SOAK else 12.0)))
        after = snapshot(out)["files"]
        assert after == before or complete_export(out), f"partial export after a kill: {sorted(after)}"
        before = after
    count("export_kills", kills)
    if SOAK:  # the next export succeeds and removes what the killed ones left
        result = cli(*args)
        assert result.exit_code == 0 and complete_export(out), result.output
        assert leftovers(out) == {"staging": {}, "old": {}}


SWAP_CHILD = """
import os, signal, sys
from pathlib import Path
import runtime.staging as staging
staging._exchange = lambda a, b: False  # the two-rename path (systems without an atomic exchange)
real, calls = Path.rename, []
def rename(self, target):
    calls.append(self)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, target)
Path.rename = rename
with staging.staged_folder(Path(sys.argv[1]), RuntimeError) as folder:
    (folder / "data.txt").write_text("new")
"""


@pytest.mark.parametrize("kill_at_rename", [1, 2])
def test_a_swap_cut_between_its_renames_loses_nothing(tmp_path, kill_at_rename) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.txt").write_text("old")
    child = subprocess.run([sys.executable, "-c", SWAP_CHILD, str(out), str(kill_at_rename)], env=ENV)
    assert child.returncode == -signal.SIGKILL
    found = leftovers(out)
    if kill_at_rename == 2:  # killed after out → .out.old-PID, before staging → out: out is missing
        assert not out.exists() and len(found["old"]) == 1 and len(found["staging"]) == 1
    removed = recover(out)
    assert (out / "data.txt").read_text() == "old", "the previous folder did not come back"
    assert removed and leftovers(out) == {"staging": {}, "old": {}}
    with staged_folder(out, RuntimeError) as folder:  # and the next job goes through
        (folder / "data.txt").write_text("next")
    assert (out / "data.txt").read_text() == "next"
    count("swap_kills")


def test_leftovers_of_a_running_process_are_kept(tmp_path) -> None:
    out = tmp_path / "out"
    busy = tmp_path / f".out.staging-{os.getppid()}"  # our parent: alive
    busy.mkdir()
    dead = tmp_path / ".out.staging-999999999"
    dead.mkdir()
    recover(out)
    assert busy.exists() and not dead.exists()


# ------------------------------------------------------------------------------------------ full disk


def no_space(*_, **__):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_an_injected_full_disk_during_track_leaves_the_previous_output(
    onnx_export_256, frames_dir, tmp_path, monkeypatch
):
    from edgetam_export import track as tracking

    out = tmp_path / "run"
    args = ["track", onnx_export_256[2], frames_dir, "--point", "20,20", "--out", out, "--no-progress"]
    assert cli(*args).exit_code == 0
    before = snapshot(out)
    calls = {"n": 0}
    put = tracking._MaskWriter.put

    def put_until_full(self, name, array):
        calls["n"] += 1
        if calls["n"] > 3:
            no_space()
        return put(self, name, array)

    monkeypatch.setattr(tracking._MaskWriter, "put", put_until_full)
    message = assert_refused(cli(*args), str(out))
    assert "no space left" in message
    assert snapshot(out) == before
    count("full_disk")


def test_an_injected_full_disk_during_export_leaves_the_previous_export(onnx_export_256, tmp_path, monkeypatch):
    from edgetam_export import to_onnx

    out = tmp_path / "export"
    shutil.copytree(onnx_export_256[2], out, copy_function=os.link)
    before = snapshot(out)

    def export_until_full(module, spec, example, path, metadata):
        Path(path).write_bytes(b"partial")
        try:
            no_space()
        except OSError as exc:
            raise RuntimeError("serialization failed") from exc  # as libraries wrap it

    monkeypatch.setattr(to_onnx, "export_onnx", export_until_full)
    args = ["export", "--random-init", "--image-size", "256", "--format", "onnx", "--out", out]
    message = assert_refused(cli(*args), str(out))
    assert "no space left" in message
    assert snapshot(out) == before
    count("full_disk")


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return result.returncode == 0


def test_a_real_full_filesystem_during_track(onnx_export_256, frames_dir, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1M"):
        pytest.skip("mounting a small tmpfs needs root; the injected ENOSPC tests cover the same path")
    try:
        out = disk / "run"
        args = ["track", onnx_export_256[2], frames_dir, "--point", "20,20", "--out", out, "--no-progress"]
        assert cli(*args).exit_code == 0
        filler, block = disk / "filler", b"\0" * 4096
        with open(filler, "wb", buffering=0) as f:  # fill the disk to its last byte
            try:
                while True:
                    f.write(block)
            except OSError:
                pass
        before = snapshot(out)
        start = time.perf_counter()
        message = assert_refused(cli(*args), str(out))
        assert "no space left" in message.lower(), message
        assert snapshot(out) == before and time.perf_counter() - start < 120
        count("full_disk")
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2(RENAME_EXCHANGE) is Linux's")
def test_on_linux_the_swap_is_one_atomic_exchange(tmp_path) -> None:
    """No instant without the folder: the new one and the previous one trade places in one system call."""
    from runtime.staging import _exchange

    (a := tmp_path / "a").mkdir()
    (b := tmp_path / "b").mkdir()
    (a / "new").touch()
    (b / "old").touch()
    assert _exchange(a, b)
    assert [p.name for p in b.iterdir()] == ["new"] and [p.name for p in a.iterdir()] == ["old"]
