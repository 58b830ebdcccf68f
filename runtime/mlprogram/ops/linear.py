"""Products: linear, matmul, scaled dot-product attention, conv (1-D and 2-D, any groups, strides,
dilations and pad types).

Convolutions are computed as one matrix product per kernel tap over strided views of the padded input
(no im2col buffer of kh·kw copies); depthwise convolutions as kh·kw multiply-adds over the map, so the
1024² image encoder runs in seconds, not minutes.
"""

from __future__ import annotations

import math

import numpy as np

from . import register


@register("linear")
def linear(x, weight, bias=None):
    """x · weightᵀ + bias; weight is [D_out, D_in]."""
    y = np.matmul(x, weight.T)
    return y if bias is None else y + bias


@register("matmul")
def matmul(x, y, transpose_x=False, transpose_y=False):
    """numpy matmul with optional transposes of the last two axes; batch axes broadcast; a rank-1 operand
    is a row (x) or a column (y) vector whose added axis is removed from the result."""
    if bool(transpose_x) and x.ndim > 1:
        x = np.swapaxes(x, -1, -2)
    if bool(transpose_y) and y.ndim > 1:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


@register("scaled_dot_product_attention")
def scaled_dot_product_attention(query, key, value, attn_mask=None):
    """softmax(Q·Kᵀ/√E + mask)·V over the last two axes (iOS 18). A bool mask says which keys take part
    (False: −∞); a float mask is added to the scores; either broadcasts to [..., L, S]."""
    scores = np.matmul(query, np.swapaxes(key, -1, -2)) / math.sqrt(query.shape[-1])
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        scores = np.where(mask, scores, -np.inf) if mask.dtype == bool else scores + mask
    scores = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    return np.matmul(scores / np.sum(scores, axis=-1, keepdims=True), value)


def conv_padding(
    sizes: tuple[int, ...], kernel: tuple[int, ...], strides, dilations, pad_type: str, pad
) -> list[tuple[int, int]]:
    """(before, after) padding per spatial axis, following MIL's pad types: valid, custom (pad =
    [begin₀, end₀, begin₁, end₁, …]), same (extra padding after) and same_lower (extra padding before)."""
    pad_type = str(pad_type)
    if pad_type == "valid":
        return [(0, 0)] * len(sizes)
    if pad_type == "custom":
        values = [int(p) for p in np.atleast_1d(pad)] if pad is not None else [0] * (2 * len(sizes))
        return [(values[2 * i], values[2 * i + 1]) for i in range(len(sizes))]
    if pad_type in ("same", "same_lower"):
        result = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            result.append((small, large) if pad_type == "same" else (large, small))
        return result
    raise ValueError(f"conv pad_type {pad_type!r} is not one of valid, custom, same, same_lower")


def _taps(xp: np.ndarray, kernel, strides, dilations, out_sizes):
    """For every kernel offset, the strided view of the padded input [N, C, *out] it multiplies."""
    if len(kernel) == 1:
        (k,), (s,), (d,), (o,) = kernel, strides, dilations, out_sizes
        for i in range(k):
            yield (i,), xp[:, :, i * d : i * d + (o - 1) * s + 1 : s]
        return
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilations, out_sizes
    for i in range(kh):
        for j in range(kw):
            yield (i, j), xp[:, :, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]


@register("conv")
def conv(x, weight, bias=None, strides=None, pad_type="valid", pad=None, dilations=None, groups=1):
    """Cross-correlation of x [N, C_in, *spatial] with weight [C_out, C_in/groups, *kernel] (MIL conv)."""
    spatial = x.ndim - 2
    if spatial not in (1, 2):
        raise ValueError(f"conv of rank {x.ndim} (only 1-D and 2-D convolutions are implemented)")
    kernel = tuple(weight.shape[2:])
    strides = tuple(int(s) for s in np.atleast_1d(strides)) if strides is not None else (1,) * spatial
    dilations = tuple(int(d) for d in np.atleast_1d(dilations)) if dilations is not None else (1,) * spatial
    groups = int(groups)
    pads = conv_padding(x.shape[2:], kernel, strides, dilations, pad_type, pad)
    if any(p for pair in pads for p in pair):
        x = np.pad(x, [(0, 0), (0, 0), *pads])
    out_sizes = tuple((x.shape[2 + a] - (kernel[a] - 1) * dilations[a] - 1) // strides[a] + 1 for a in range(spatial))
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    per_group_in, per_group_out = c_in // groups, c_out // groups
    if per_group_in * groups != c_in or weight.shape[1] != per_group_in:
        raise ValueError(f"conv weight {weight.shape} does not fit {c_in} input channels in {groups} groups")
    out = np.zeros((n, c_out, *out_sizes), dtype=np.float32)
    if groups == c_in and per_group_out == 1:  # depthwise: one multiply-add per tap
        w = weight.reshape(c_out, -1).astype(np.float32)
        shape = (1, c_out) + (1,) * spatial
        for tap, view in _taps(x, kernel, strides, dilations, out_sizes):
            index = np.ravel_multi_index(tap, kernel)
            out += view * w[:, index].reshape(shape)
    else:
        # Per tap and group: [N, g_in, P] views, weights [g_out, g_in] → out[:, group] += W @ view.
        flat = out.reshape(n, groups, per_group_out, -1)
        w = weight.astype(np.float32).reshape(groups, per_group_out, per_group_in, -1)
        for tap, view in _taps(x, kernel, strides, dilations, out_sizes):
            index = np.ravel_multi_index(tap, kernel)
            patch = view.reshape(n, groups, per_group_in, -1)  # copies only when the view is strided
            flat += np.matmul(w[None, :, :, :, index], patch)
    if bias is not None:
        out += np.reshape(bias, (1, -1) + (1,) * spatial)
    return out
