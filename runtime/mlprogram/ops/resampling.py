"""Resampling of the last two axes: upsample_bilinear and upsample_nearest_neighbor.

Output size is floor(input · scale). Bilinear sample positions (MIL's definition, 1-D, input length X_in,
output X_out): align_corners: i · (X_in − 1)/(X_out − 1); half_pixel_centers (the default when not
align_corners): (i + 0.5) · X_in/X_out − 0.5; otherwise i · X_in/X_out; clamped to [0, X_in − 1].
Nearest neighbour reads input index floor(i · X_in/X_out).
"""

from __future__ import annotations

import math

import numpy as np

from . import register


def sample_positions(x_in: int, x_out: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    i = np.arange(x_out, dtype=np.float64)
    if align_corners:
        grid = i * ((x_in - 1) / (x_out - 1)) if x_out > 1 else np.zeros(x_out)
    elif half_pixel_centers:
        grid = (i + 0.5) * (x_in / x_out) - 0.5
    else:
        grid = i * (x_in / x_out)
    return np.clip(grid, 0, x_in - 1)


def _interpolate(x: np.ndarray, axis: int, grid: np.ndarray) -> np.ndarray:
    low = np.floor(grid).astype(np.int64)
    high = np.minimum(low + 1, x.shape[axis] - 1)
    frac = (grid - low).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    a, b = np.take(x, low, axis=axis), np.take(x, high, axis=axis)
    return a + (b - a) * frac


def _out_size(size: int, scale) -> int:
    return int(math.floor(size * float(scale) + 1e-6))


@register("upsample_bilinear")
def upsample_bilinear(x, scale_factor_height=1, scale_factor_width=1, align_corners=True, half_pixel_centers=None):
    align_corners = bool(align_corners)
    half = (not align_corners) if half_pixel_centers is None else bool(half_pixel_centers)
    h, w = x.shape[-2:]
    oh, ow = _out_size(h, scale_factor_height), _out_size(w, scale_factor_width)
    y = _interpolate(x, x.ndim - 2, sample_positions(h, oh, align_corners, half))
    return _interpolate(y, x.ndim - 1, sample_positions(w, ow, align_corners, half))


@register("upsample_nearest_neighbor")
def upsample_nearest_neighbor(x, scale_factor_height=1, scale_factor_width=1):
    h, w = x.shape[-2:]
    oh, ow = _out_size(h, scale_factor_height), _out_size(w, scale_factor_width)
    rows = np.minimum(np.floor(np.arange(oh) * (h / oh)).astype(np.int64), h - 1)
    cols = np.minimum(np.floor(np.arange(ow) * (w / ow)).astype(np.int64), w - 1)
    return np.take(np.take(x, rows, axis=-2), cols, axis=-1)
