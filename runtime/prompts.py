"""Prompt validation and conversion from frame pixels to model-input pixels.

Points and boxes are given in the frame's own pixel coordinates (x right, y down); the model sees them
scaled to its square input, as the original predictor scales them (float32: / [W, H] · S).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def _as_float_array(value: object, name: str, shape_hint: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numbers {shape_hint}; got {value!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinite values: {arr.tolist()}")
    return arr


def _check_inside(xy: np.ndarray, width: int, height: int, name: str) -> None:
    outside = (xy[:, 0] < 0) | (xy[:, 0] > width) | (xy[:, 1] < 0) | (xy[:, 1] > height)
    if outside.any():
        bad = xy[outside].tolist()
        raise InputError(
            f"{name} {bad} lie outside the {width}×{height} frame; coordinates are frame pixels, "
            f"x in [0, {width}] and y in [0, {height}]"
        )


def point_prompt(
    points: object, labels: object, box: object, width: int, height: int, image_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """→ (coords [P, 2] float32 in model-input pixels, labels [P] float32); a box becomes the first two
    points with labels 2 and 3, as the original predictor encodes it."""
    if (points is None) != (labels is None):
        raise InputError("points and labels go together: give one label (1 positive, 0 negative) per point")
    coords: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    if box is not None:
        b = _as_float_array(box, "box", "as [x0, y0, x1, y1]")
        if b.shape != (4,):
            raise InputError(f"box must be [x0, y0, x1, y1]; got shape {b.shape}")
        if b[2] < b[0] or b[3] < b[1]:
            raise InputError(f"box {b.tolist()} has x1 < x0 or y1 < y0; give [x0, y0, x1, y1] with x0 ≤ x1, y0 ≤ y1")
        corners = b.reshape(2, 2)
        _check_inside(corners, width, height, "box corners")
        coords.append(corners)
        codes.append(np.array([2.0, 3.0]))
    if points is not None:
        p = _as_float_array(points, "points", "as [[x, y], ...]")
        if p.ndim == 1 and p.shape == (2,):
            p = p[None]
        if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
            raise InputError(f"points must be a non-empty list of [x, y]; got shape {p.shape}")
        lab = _as_float_array(labels, "labels", "as [1, 0, ...]").reshape(-1)
        if lab.shape[0] != p.shape[0]:
            raise InputError(f"got {p.shape[0]} points but {lab.shape[0]} labels; give one label per point")
        if not np.isin(lab, (0.0, 1.0)).all():
            raise InputError(
                f"labels must be 1 (positive) or 0 (negative); got {lab.tolist()} "
                "(2 and 3 are box corners: pass box=[x0, y0, x1, y1] instead)"
            )
        _check_inside(p, width, height, "points")
        coords.append(p)
        codes.append(lab)
    if not coords:
        raise InputError("a prompt needs points with labels, a box, or a mask")
    xy = np.concatenate(coords).astype(np.float32)
    scaled = xy / np.array([width, height], dtype=np.float32) * np.float32(image_size)
    return scaled.astype(np.float32), np.concatenate(codes).astype(np.float32)


def mask_prompt(mask: object, width: int, height: int) -> np.ndarray:
    """→ the mask as float32 0/1 [height, width]; it must have the frame's size."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.shape != (height, width):
        raise InputError(f"mask has shape {m.shape} but the frame is {height}×{width}; give an H×W mask of the frame")
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.all(np.isfinite(m)):
            raise InputError("mask must hold booleans or 0/1 numbers")
        m = m > 0
    return m.astype(np.float32)
