"""How close two outputs are, computed one way everywhere: verifier, benchmarks and tests."""

from __future__ import annotations

import math

import numpy as np


def _f64(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def rel_diff(ours, ref, min_std: float = 1e-12) -> float:
    """max |ours − ref| / std(ref). A near-constant reference (a single score, an absent object's −1024
    mask) has std ≈ 0; pass min_std to judge its error in absolute units instead."""
    a, b = _f64(ours), _f64(ref)
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} vs reference {b.shape}")
    return float(np.abs(a - b).max() / max(b.std(), min_std)) if b.size else 0.0


def cosine(ours, ref) -> float:
    a, b = _f64(ours).ravel(), _f64(ref).ravel()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return 1.0 if denom == 0 and np.array_equal(a, b) else float(a @ b / max(denom, 1e-300))


def psnr(ours, ref) -> float:
    """Peak signal-to-noise ratio in dB, the peak being the reference's range or, when larger, its largest
    magnitude: two object scores of 0.29 and 0.24 have a range of 0.05, which is not their scale (float16's
    rounding of them read 34 dB against the range, 50 against the magnitude)."""
    a, b = _f64(ours), _f64(ref)
    mse = float(np.mean((a - b) ** 2))
    peak = max(float(b.max() - b.min()), float(np.abs(b).max())) or 1.0
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def iou(ours, ref) -> float:
    """IoU of the foregrounds (logits > 0); 1.0 when both are empty."""
    a, b = _f64(ours) > 0, _f64(ref) > 0
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
