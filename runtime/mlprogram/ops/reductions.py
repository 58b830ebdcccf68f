"""Reductions over `axes` (None: all axes; negative axes count from the end), keep_dims default False."""

from __future__ import annotations

import numpy as np

from . import register
from .elementwise import NUMPY_DTYPES


def _axes(axes) -> tuple[int, ...] | None:
    if axes is None:
        return None
    return tuple(int(a) for a in np.atleast_1d(axes))


def _reduction(fn):
    def apply(x, axes=None, keep_dims=False):
        return fn(x, axis=_axes(axes), keepdims=bool(keep_dims))

    return apply


register("reduce_sum")(_reduction(np.sum))
register("reduce_mean")(_reduction(np.mean))
register("reduce_max")(_reduction(np.max))
register("reduce_min")(_reduction(np.min))
register("reduce_prod")(_reduction(np.prod))


@register("reduce_sum_square")
def reduce_sum_square(x, axes=None, keep_dims=False):
    return np.sum(x * x, axis=_axes(axes), keepdims=bool(keep_dims))


@register("reduce_l2_norm")
def reduce_l2_norm(x, axes=None, keep_dims=False):
    return np.sqrt(np.sum(x * x, axis=_axes(axes), keepdims=bool(keep_dims)))


@register("reduce_l1_norm")
def reduce_l1_norm(x, axes=None, keep_dims=False):
    return np.sum(np.abs(x), axis=_axes(axes), keepdims=bool(keep_dims))


@register("reduce_log_sum_exp")
def reduce_log_sum_exp(x, axes=None, keep_dims=False):
    axes = _axes(axes)
    peak = np.max(x, axis=axes, keepdims=True)
    total = np.log(np.sum(np.exp(x - peak), axis=axes, keepdims=True)) + peak
    return total if keep_dims else np.squeeze(total, axis=axes)


def _arg(fn):
    def apply(x, axis=-1, keep_dims=False, output_dtype="int32"):
        """Index of the first extreme value along `axis` (ties: the lowest index)."""
        result = fn(x, axis=int(axis), keepdims=bool(keep_dims))
        return result.astype(NUMPY_DTYPES[str(output_dtype)])

    return apply


register("reduce_argmax")(_arg(np.argmax))
register("reduce_argmin")(_arg(np.argmin))
