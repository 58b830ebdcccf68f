"""The int8 ONNX image encoder against the float32 one: speed ratio and cosine per output.

    python -m benchmarks.int8_image_encoder FLOAT_EXPORT INT8_EXPORT [--runs 15]

Both image encoders are opened through the runtime's ONNX backend (its session options: threads, no
spinning, and what it sets for int8 exports) in one process and timed alternately, one run each in turn after
a warm-up, so load from other processes falls on both alike; the ratio reported is the median of the
per-turn ratios. Cosines are taken against the float32 export's outputs (which match the torch stage to
~1e-6) on generated frames unlike the calibration clip, and on the order-one random images verify uses.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def evaluation_images(image_size: int) -> dict[str, list[np.ndarray]]:
    """Two frames of a generated clip (seed 33, 540×960: not the export's calibration clip) and two
    order-one random images (verify's example inputs, seeds 100 and 101)."""
    from edgetam_export.clip import synthetic_clip
    from edgetam_export.examples import example_arrays
    from edgetam_export.onnx_int8 import calibration_images

    frames = calibration_images(synthetic_clip(5, 540, 960, seed=33), image_size, 2)
    sizes = {"S": image_size, "B": 1, "K": 1, "N": 1, "P": 1}
    noise = [example_arrays("image_encoder", sizes, seed=100 + i)["image"].astype(np.float32) for i in range(2)]
    return {"frames": frames, "random": noise}


def compare(float_folder: Path, int8_folder: Path, runs: int = 15, warmup: int = 2) -> dict:
    from edgetam_export.metrics import cosine
    from runtime.backends.onnx import OnnxBackend

    backends = [OnnxBackend.from_folder(f, stages=["image_encoder"]) for f in (float_folder, int8_folder)]
    size = backends[0].config["image_size"]
    images = evaluation_images(size)
    figures: dict = {"image_size": size}
    for kind, batch in images.items():
        worst: dict[str, float] = {}
        for image in batch:
            want, got = (b.run("image_encoder", {"image": image}) for b in backends)
            for name, value in want.items():
                worst[name] = min(worst.get(name, 1.0), cosine(got[name], value))
        figures[f"cosine_{kind}"] = worst
    image = images["frames"][0]
    for backend in backends:
        for _ in range(warmup):
            backend.run("image_encoder", {"image": image})
    times: list[list[float]] = [[], []]
    for _ in range(runs):
        for backend, record in zip(backends, times):
            start = time.perf_counter()
            backend.run("image_encoder", {"image": image})
            record.append((time.perf_counter() - start) * 1e3)
    figures["float32_ms"] = statistics.median(times[0])
    figures["int8_ms"] = statistics.median(times[1])
    figures["speedup"] = statistics.median(a / b for a, b in zip(*times))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("float_export", type=Path)
    parser.add_argument("int8_export", type=Path)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    f = compare(args.float_export, args.int8_export, args.runs)
    print(
        f"image encoder at {f['image_size']}²: float32 {f['float32_ms']:.0f} ms, int8 {f['int8_ms']:.0f} ms "
        f"(medians), speedup ×{f['speedup']:.2f} (median of per-turn ratios)"
    )
    for kind in ("frames", "random"):
        print(f"  cosine on {kind}: " + ", ".join(f"{k} {v:.4f}" for k, v in f[f"cosine_{kind}"].items()))


if __name__ == "__main__":
    main()
