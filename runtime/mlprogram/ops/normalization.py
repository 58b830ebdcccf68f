"""Normalizations. Epsilon is added to the variance under the square root in each of them."""

from __future__ import annotations

import numpy as np

from . import register


@register("batch_norm")
def batch_norm(x, mean, variance, gamma=None, beta=None, epsilon=1e-5):
    """(x − mean) / sqrt(variance + epsilon) · gamma + beta over the channel axis 1 (x of rank 3–5)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = 1.0 / np.sqrt(variance.astype(np.float32) + np.float32(epsilon))
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale
    if beta is not None:
        shift = shift + beta
    return x * scale.reshape(shape) + shift.reshape(shape)


@register("layer_norm")
def layer_norm(x, axes=None, gamma=None, beta=None, epsilon=1e-5):
    """(x − mean) / sqrt(var + epsilon) over `axes` (all axes when None), then · gamma + beta, whose shape
    is x's shape on those axes (in order)."""
    given = list(range(x.ndim)) if axes is None else [int(a) % x.ndim for a in np.atleast_1d(axes)]
    axes = tuple(sorted(given))
    order = np.argsort(given)  # gamma and beta follow the order `axes` were given in
    mean = np.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=axes, keepdims=True)
    y = centered / np.sqrt(var + np.float32(epsilon))
    param_shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
    if gamma is not None:
        y = y * np.reshape(np.transpose(gamma, order) if np.ndim(gamma) == len(axes) else gamma, param_shape)
    if beta is not None:
        y = y + np.reshape(np.transpose(beta, order) if np.ndim(beta) == len(axes) else beta, param_shape)
    return y


@register("instance_norm")
def instance_norm(x, gamma=None, beta=None, epsilon=1e-5):
    """layer_norm over the spatial axes (2…) per sample and channel; gamma, beta per channel."""
    axes = tuple(range(2, x.ndim))
    mean = np.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=axes, keepdims=True)
    y = centered / np.sqrt(var + np.float32(epsilon))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if gamma is not None:
        y = y * np.reshape(gamma, shape)
    if beta is not None:
        y = y + np.reshape(beta, shape)
    return y
