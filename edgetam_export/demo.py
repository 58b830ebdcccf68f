"""`make demo`: track one clicked object through a generated clip and write an overlay strip.

Uses synthetic weights unless EDGETAM_CHECKPOINT names a real checkpoint (edgetam.pt or an HF folder).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .clip import synthetic_clip

OUT = Path("build/demo")
FRAMES, HEIGHT, WIDTH = 8, 360, 640
CLICK = (0.30 * WIDTH, 0.35 * HEIGHT)  # on the red disc of the first frame


def overlay_strip(frames: list[np.ndarray], masks: list[np.ndarray], columns: int = 4) -> np.ndarray:
    """Frames with the mask tinted, tiled in a grid at half size."""
    tiles = []
    for frame, mask in zip(frames, masks):
        tinted = frame.astype(np.float32)
        tinted[mask] = 0.45 * tinted[mask] + 0.55 * np.array([255, 200, 0])
        tiles.append(tinted[::2, ::2].astype(np.uint8))
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    rows[-1] = np.pad(rows[-1], ((0, 0), (0, rows[0].shape[1] - rows[-1].shape[1]), (0, 0)))
    return np.concatenate(rows, axis=0)


def main() -> None:
    from PIL import Image

    from runtime import Tracker
    from runtime.backends.torch import TorchBackend

    checkpoint = os.environ.get("EDGETAM_CHECKPOINT")
    backend = TorchBackend.from_checkpoint(checkpoint) if checkpoint else TorchBackend.synthetic(seed=1)
    if checkpoint:
        print(f"weights: {checkpoint}")
    else:
        print("weights: SYNTHETIC (seeded random, order-one activations) — the masks show the pipeline runs,")
        print("         not what EdgeTAM sees. For real masks: EDGETAM_CHECKPOINT=/path/to/edgetam.pt make demo")
    frames = synthetic_clip(FRAMES, HEIGHT, WIDTH)
    session = Tracker(backend).start(frames)
    start = time.perf_counter()
    session.add_prompt(0, obj_id=1, points=[CLICK], labels=[1])
    masks = []
    for result in session.propagate():
        mask = result.masks[0]
        masks.append(mask)
        area = 100 * mask.mean()
        print(f"frame {result.frame_idx}: mask area {area:5.1f} %  object score {result.object_score_logits[0]:+.2f}")
    elapsed = time.perf_counter() - start
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "overlay_strip.png"
    Image.fromarray(overlay_strip(frames, masks)).save(path)
    print(
        f"{FRAMES} frames at {HEIGHT}×{WIDTH} in {elapsed:.1f} s ({FRAMES / elapsed:.2f} frames/s, torch backend, CPU)"
    )
    print(f"overlay strip: {path}")


if __name__ == "__main__":
    main()
