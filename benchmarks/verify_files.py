"""What checking an export's files against its manifest costs: `python -m benchmarks.verify_files EXPORT`.

Prints, per format, the bytes hashed and the seconds sha256 takes (median of 5 warm runs: the files are in
the page cache, as they are right after an export or a previous load), and the onnx backend's load time
with and without the check (`Tracker.load(..., verify_files=False)`, `track --no-verify-files`).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from runtime.manifest import load_manifest, sha256_file


def median_seconds(job, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(folder: Path) -> None:
    from runtime.backends.onnx import OnnxBackend

    manifest = load_manifest(folder)
    size = manifest["model"]["config"]["image_size"]
    for fmt, section in manifest["formats"].items():
        paths = [folder / e["file"] for e in section["stages"].values()]
        total = sum(e["bytes"] for e in section["stages"].values())
        seconds = median_seconds(lambda paths=paths: [sha256_file(p) for p in paths])
        print(f"{fmt} ({size}²): {total / 1e6:.1f} MB hashed in {seconds:.3f} s ({total / 1e6 / seconds:.0f} MB/s)")
    if "onnx" in manifest["formats"]:
        with_check = median_seconds(lambda: OnnxBackend.from_folder(folder), 3)
        without = median_seconds(lambda: OnnxBackend.from_folder(folder, verify_files=False), 3)
        print(f"onnx backend load: {with_check:.2f} s with the check, {without:.2f} s without")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
