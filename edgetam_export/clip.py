"""A small generated clip for demos and tests: no download, deterministic, with motion and an exit."""

from __future__ import annotations

import numpy as np

COLOURS = ((230, 40, 40), (40, 220, 60), (50, 60, 240))


def disc_centres(t: int, num_frames: int) -> list[tuple[float, float]]:
    """Normalized (x, y) centres of the three discs on frame t; disc 2 leaves on the right and returns."""
    phase = t / max(num_frames - 1, 1)
    return [(0.30 + 0.3 * phase, 0.35), (0.65, 0.30 + 0.35 * phase), (0.5 + 0.9 * np.sin(np.pi * phase), 0.7)]


def disc_mask(height: int, width: int, cx: float, cy: float, radius: float = 0.12) -> np.ndarray:
    """Boolean H×W disc at normalized centre (cx, cy), radius relative to the shorter side."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx - cx * width) ** 2 + (yy - cy * height) ** 2 < (radius * min(height, width)) ** 2


def synthetic_clip(num_frames: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth coloured background with sensor-like noise and three moving discs (H×W×3 uint8 frames)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            96 + 60 * np.sin(xx / width * 3 + 0.5),
            110 + 50 * np.cos(yy / height * 4),
            128 + 40 * np.sin((xx + yy) / (width + height) * 5),
        ],
        axis=-1,
    )
    frames = []
    for t in range(num_frames):
        img = base + rng.normal(0, 6, base.shape)
        for (cx, cy), colour in zip(disc_centres(t, num_frames), COLOURS):
            img[disc_mask(height, width, cx, cy)] = colour
        frames.append(np.clip(img, 0, 255).round().astype(np.uint8))
    return frames
