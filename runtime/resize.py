"""Image and mask resizing in pure numpy that reproduces PyTorch's CPU results.

Three resizes are needed by the EdgeTAM runtime:

* ``resize_uint8_antialias_bilinear``: video frames to the model input size. Hugging Face's SAM 2 / EdgeTAM
  processors call ``torchvision.transforms.v2.functional.resize(frames_uint8, [S, S], BILINEAR, antialias=True)``
  on an ``(N, 3, H, W)`` uint8 tensor; on CPUs with AVX2/AVX-512 and on arm64 torchvision hands the uint8 tensor
  straight to ``F.interpolate(mode="bilinear", antialias=True)``, i.e. ATen's uint8 antialiased kernel (a port
  of Pillow-SIMD). This module reproduces that kernel bit for bit:

  - per axis, float64 triangle-filter weights over the support ``max(scale, 1)`` with
    ``scale = in_size / out_size``, normalised to sum 1;
  - the weights are turned into int16 fixed point with ``precision`` fractional bits, the largest value in
    0..22 for which the biggest weight of that axis still fits in int15 (chosen separately per axis);
    each weight is rounded half away from zero;
  - each output sample is ``clip((sum(w_int * pixel) + 2**(precision - 1)) >> precision, 0, 255)``;
  - the horizontal pass (width) runs first and is stored as uint8, then the vertical pass (height);
    an axis whose size does not change is skipped, and border samples simply use fewer taps
    (the support is clipped to the image and the remaining weights renormalised).

* ``resize_bilinear``: ``F.interpolate(mode="bilinear", align_corners=False, antialias=False)`` on float32.
* ``resize_bilinear_antialias``: ``F.interpolate(mode="bilinear", align_corners=False, antialias=True)`` on
  float32 (same filter, with weights computed in float32 as ATen's float kernel does; width pass first).

(On x86 CPUs without AVX2 torchvision instead converts uint8 frames to float32, resizes, rounds and casts back,
which differs from the uint8 kernel by at most 1 on a few pixels; that path is not what HF runs on AVX2 x86,
Apple silicon or other arm64 machines, so it is not reproduced here.)

Everything is vectorised: weight and index tables are computed once per axis and applied with one gather and
multiply-add per filter tap (a handful of taps), never per pixel.
"""

from __future__ import annotations

import math
import operator
from functools import lru_cache

import numpy as np

__all__ = ["resize_uint8_antialias_bilinear", "resize_bilinear", "resize_bilinear_antialias"]


# --------------------------------------------------------------------------------------------------------------
# Per-axis tables
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _antialias_taps(in_size: int, out_size: int, single: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Antialiased triangle-filter taps for one axis.

    ``single=False`` reproduces ATen's uint8 path (all arithmetic in float64); ``single=True`` its float32 path
    (scale, centres and weights stored as float32, intermediate sums promoted to float64 where the C++ code
    mixes ``float`` with ``double`` literals). Returns ``(index, weight)``, both ``(out_size, taps)``: output
    sample ``i`` is ``sum_k input[index[i, k]] * weight[i, k]``. Taps past the clipped support have weight 0
    and an in-range index. The tables are cached and read-only.
    """
    f = np.float32 if single else np.float64
    scale = f(in_size) / f(out_size)
    support = scale if scale >= 1.0 else f(1.0)  # bilinear half-width (1) stretched by the downscale factor
    max_taps = int(math.ceil(support)) * 2 + 1
    inv_scale = f(1.0 / np.float64(scale)) if scale >= 1.0 else f(1.0)

    center = (np.float64(scale) * (np.arange(out_size, dtype=np.int64) + 0.5)).astype(f)
    # C++ static_cast<int64_t> truncates toward zero.
    first = np.maximum(np.trunc((center - support).astype(np.float64) + 0.5).astype(np.int64), 0)
    stop = np.minimum(np.trunc((center + support).astype(np.float64) + 0.5).astype(np.int64), in_size)
    count = np.clip(stop - first, 0, max_taps)

    k = np.arange(max_taps, dtype=np.int64)
    offset = (k[None, :] + first[:, None]).astype(f) - center[:, None]
    x = ((offset.astype(np.float64) + 0.5) * np.float64(inv_scale)).astype(f)
    weight = np.maximum(f(1.0) - np.abs(x), f(0.0))
    weight[k[None, :] >= count[:, None]] = 0.0

    # Sum the taps left to right, as the C++ loop does (numpy's pairwise sum could round differently).
    total = np.zeros(out_size, dtype=f)
    for j in range(max_taps):
        total = total + weight[:, j]
    nonzero = total != 0.0
    weight[nonzero] = weight[nonzero] / total[nonzero, None]

    used = int(count.max()) if out_size else 0  # drop trailing taps that are zero for every output
    index = np.minimum(first[:, None] + k[None, :used], in_size - 1)
    weight = np.ascontiguousarray(weight[:, :used])
    index.setflags(write=False)
    weight.setflags(write=False)
    return index, weight


@lru_cache(maxsize=64)
def _antialias_taps_int16(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The antialias taps in ATen's uint8 fixed point: ``(index, int_weight, precision)``.

    ``precision`` is the largest number of fractional bits (at most 22) for which the largest weight of this
    axis, scaled by ``2 ** (precision + 1)`` and rounded, stays below ``2 ** 15``. Weights are scaled by
    ``2 ** precision`` and rounded half away from zero. ``int_weight`` is int32 (values fit in int16).
    """
    index, weight = _antialias_taps(in_size, out_size)
    w_max = float(weight.max()) if weight.size else 0.0
    precision = 0
    while precision < 22 and int(0.5 + w_max * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    scaled = weight * float(1 << precision)
    int_weight = np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5)).astype(np.int32)
    int_weight.setflags(write=False)
    return index, int_weight, precision


@lru_cache(maxsize=64)
def _linear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-tap bilinear (no antialias, ``align_corners=False``) tables for one axis, in float32 like ATen.

    Returns ``(index0, index1, weight0, weight1)``, each ``(out_size,)``.
    """
    if in_size == out_size:
        i = np.arange(out_size, dtype=np.int64)
        return i, i, np.ones(out_size, np.float32), np.zeros(out_size, np.float32)
    scale = np.float32(in_size) / np.float32(out_size)  # float32, as ATen's float path
    # ATen evaluates scale * (i + 0.5) - 0.5 in double (the literals are double) and stores it as float.
    src = (np.float64(scale) * (np.arange(out_size) + 0.5) - 0.5).astype(np.float32)
    src = np.maximum(src, np.float32(0.0))  # negative source coordinates clamp to the first sample
    index0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    lam1 = np.clip(src - index0.astype(np.float32), np.float32(0.0), np.float32(1.0)).astype(np.float32)
    lam0 = (np.float32(1.0) - lam1).astype(np.float32)
    index1 = index0 + (index0 < in_size - 1)
    return index0, index1, lam0, lam1


# --------------------------------------------------------------------------------------------------------------
# Tap application helpers
# --------------------------------------------------------------------------------------------------------------


def _taps_last_axis(x: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``out[..., i] = sum_k x[..., index[i, k]] * weight[i, k]``, accumulated tap by tap (float)."""
    out = np.take(x, index[:, 0], axis=-1) * weight[:, 0]
    for k in range(1, index.shape[1]):
        out += np.take(x, index[:, k], axis=-1) * weight[:, k]
    return out


def _taps_second_last_axis(x: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``out[..., i, :] = sum_k x[..., index[i, k], :] * weight[i, k]``, accumulated tap by tap (float)."""
    out = np.take(x, index[:, 0], axis=-2) * weight[:, 0, None]
    for k in range(1, index.shape[1]):
        out += np.take(x, index[:, k], axis=-2) * weight[:, k, None]
    return out


# Rows per block of the fixed-point passes: a block's int32 sums (32 rows of a 1024-wide RGB image: 400 KB)
# stay in cache between the handful of passes over them; whole images made the resize 2× slower.
_ROW_BLOCK = 32


def _fixed_point_pass(src: np.ndarray, index: np.ndarray, weight: np.ndarray, precision: int, axis: int) -> np.ndarray:
    """One uint8 pass of ATen's fixed-point filter along ``axis`` (0 or 1) of a 2-D uint8 array.

    ``out = min((sum_k src[index[:, k]] * weight[:, k] + 2**(precision - 1)) >> precision, 255)`` in int32,
    exact: the weights are non-negative, so the sum never goes below 0, and it stays far below 2**31.
    Computed in blocks of output rows.
    """
    out_rows = index.shape[0] if axis == 0 else src.shape[0]
    out = np.empty((out_rows, src.shape[1] if axis == 0 else index.shape[0]), dtype=np.uint8)
    taps = weight.T[:, :, None] if axis == 0 else np.ascontiguousarray(weight.T)  # one weight vector per tap
    for start in range(0, out_rows, _ROW_BLOCK):
        rows = slice(start, start + _ROW_BLOCK)
        if axis == 0:
            out[rows] = _fixed_point_block(src, index[rows], taps[:, rows], precision, axis)
        else:
            out[rows] = _fixed_point_block(src[rows], index, taps, precision, axis)
    return out


def _fixed_point_block(src: np.ndarray, index: np.ndarray, taps: np.ndarray, precision: int, axis: int) -> np.ndarray:
    """`_fixed_point_pass` on one block; taps[k]: tap k's weights, shaped to broadcast along the other axis."""
    gathered = np.empty(src.shape[:axis] + (index.shape[0],) + src.shape[axis + 1 :], dtype=np.uint8)
    acc = np.empty(gathered.shape, dtype=np.int32)
    term = np.empty_like(acc)
    for k in range(index.shape[1]):
        np.take(src, index[:, k], axis=axis, out=gathered)
        if k == 0:
            np.multiply(gathered, taps[0], out=acc)
        else:
            np.multiply(gathered, taps[k], out=term)
            acc += term
    acc += np.int32(1 << (precision - 1))
    acc >>= np.int32(precision)
    np.minimum(acc, np.int32(255), out=acc)
    return acc


def _check_size(height: int, width: int) -> tuple[int, int]:
    try:
        if isinstance(height, bool) or isinstance(width, bool):
            raise TypeError
        size = operator.index(height), operator.index(width)
    except TypeError:
        size = (0, 0)
    if min(size) < 1:
        raise ValueError(f"output size must be two positive integers, got height={height!r}, width={width!r}")
    return size


def _as_float_stack(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{name}: expected an array of shape (..., H, W), got shape {x.shape}")
    if x.shape[-2] == 0 or x.shape[-1] == 0:
        raise ValueError(f"{name}: input is empty (shape {x.shape})")
    return x.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


def resize_uint8_antialias_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 image to ``(height, width, 3)`` uint8, bit-exact with ATen's CPU kernel.

    Equals ``F.interpolate(t, (height, width), mode="bilinear", antialias=True)`` on the uint8 NCHW tensor
    ``t``, which is what ``torchvision.transforms.v2.functional.resize(..., antialias=True)`` runs on CPU
    (AVX2/AVX-512 x86 and arm64), and hence what Hugging Face's Sam2 image/video processors produce.
    Any number of channels works; the layout is channels-last.
    """
    height, width = _check_size(height, width)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) uint8 array, got shape {image.shape} and dtype {image.dtype}")
    in_h, in_w, channels = image.shape
    if in_h == 0 or in_w == 0 or channels == 0:
        raise ValueError(f"cannot resize an empty image (shape {image.shape})")

    out = image
    if width != in_w:  # horizontal pass, on rows of interleaved channels
        index, weight, precision = _antialias_taps_int16(in_w, width)
        # Channel c of pixel j sits at j * channels + c in a flattened row.
        cols = (index[:, None, :] * channels + np.arange(channels)[None, :, None]).reshape(width * channels, -1)
        rows = np.ascontiguousarray(out).reshape(in_h, in_w * channels)
        out = _fixed_point_pass(rows, cols, np.repeat(weight, channels, axis=0), precision, axis=1)
        out = out.reshape(in_h, width, channels)
    if height != in_h:  # vertical pass, whole rows at a time
        index, weight, precision = _antialias_taps_int16(in_h, height)
        rows = np.ascontiguousarray(out).reshape(in_h, width * channels)
        out = _fixed_point_pass(rows, index, weight, precision, axis=0).reshape(height, width, channels)
    if out is image:
        out = image.copy()
    return out


def resize_bilinear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of ``(..., H, W)`` to ``(..., height, width)`` float32, without antialiasing.

    Matches ``F.interpolate(x, (height, width), mode="bilinear", align_corners=False, antialias=False)``
    (half-pixel centres, source coordinates clamped at 0 and at the last sample). Works for up- and
    down-scaling; leading dimensions are batch dimensions.
    """
    height, width = _check_size(height, width)
    x = _as_float_stack(x, "resize_bilinear")
    in_h, in_w = x.shape[-2:]
    h0, h1, wh0, wh1 = _linear_taps(in_h, height)
    w0, w1, ww0, ww1 = _linear_taps(in_w, width)
    # ATen interpolates along width within the two source rows, then blends the rows. Interpolating every
    # source row along width first and then gathering whole rows performs exactly the same float operations,
    # with cheap row gathers on the large output instead of element gathers.
    rows = np.take(x, w0, axis=-1) * ww0 + np.take(x, w1, axis=-1) * ww1
    top = np.take(rows, h0, axis=-2)
    bottom = np.take(rows, h1, axis=-2)
    top *= wh0[:, None]
    bottom *= wh1[:, None]
    top += bottom
    return top


def resize_bilinear_antialias(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Antialiased bilinear resize of ``(..., H, W)`` to ``(..., height, width)`` float32.

    Matches ``F.interpolate(x, (height, width), mode="bilinear", align_corners=False, antialias=True)``:
    a separable triangle filter widened by the downscale factor (plain bilinear when upscaling), width pass
    first, then height. Leading dimensions are batch dimensions.
    """
    height, width = _check_size(height, width)
    x = _as_float_stack(x, "resize_bilinear_antialias")
    in_h, in_w = x.shape[-2:]
    out = x
    if width != in_w:
        index, weight = _antialias_taps(in_w, width, single=True)
        out = _taps_last_axis(out, index, weight)
    if height != in_h:
        index, weight = _antialias_taps(in_h, height, single=True)
        out = _taps_second_last_axis(out, index, weight)
    if out is x:
        out = x.copy()
    return out.astype(np.float32, copy=False)
