"""Activation ops: relu, sigmoid, tanh, silu, gelu (three modes), softmax, erf."""

from __future__ import annotations

import numpy as np

from . import register

# numpy has no erf. erfc by the Chebyshev fit of Numerical Recipes (`erfcc`): relative error below 1.2e-7
# everywhere, so GELU's left tail (0.5·x·erfc(−x/√2), tiny values) keeps its relative accuracy; near 0,
# erf from its Taylor series. Evaluated in float64, returned as float32.
_ERFC = (
    -1.26551223,
    1.00002368,
    0.37409196,
    0.09678418,
    -0.18628806,
    0.27886807,
    -1.13520398,
    1.48851587,
    -0.82215223,
    0.17087277,
)


def erfc_array(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for c in reversed(_ERFC[1:]):
        poly = c + t * poly
    tail = t * np.exp(-z * z + _ERFC[0] + t * poly)
    return np.where(x >= 0, tail, 2.0 - tail)


def erf_array(x: np.ndarray) -> np.ndarray:
    x64 = np.asarray(x, dtype=np.float64)
    small = x64 * (1 + x64 * x64 * (-1 / 3 + x64 * x64 * (1 / 10 - x64 * x64 / 42))) * (2 / np.sqrt(np.pi))
    return np.where(np.abs(x64) < 0.1, small, 1.0 - erfc_array(x64)).astype(np.float32)


@register("erf")
def erf(x):
    return erf_array(x)


@register("relu")
def relu(x):
    return np.maximum(x, 0)


@register("relu6")
def relu6(x):
    return np.clip(x, 0, 6)


@register("leaky_relu")
def leaky_relu(x, alpha=0.01):
    return np.where(x >= 0, x, x * np.float32(alpha))


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    # exp of a negative argument only, so large |x| neither overflows nor warns.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


@register("sigmoid")
def sigmoid(x):
    return sigmoid_array(x)


@register("tanh")
def tanh(x):
    return np.tanh(x)


@register("silu")
def silu(x):
    return x * sigmoid_array(x)


@register("gelu")
def gelu(x, mode="EXACT"):
    """EXACT: x·Φ(x) = 0.5·x·(1 + erf(x/√2)); TANH_APPROXIMATION: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)));
    SIGMOID_APPROXIMATION: x·sigmoid(1.702·x)."""
    mode = str(mode)
    if mode == "EXACT":
        return (0.5 * x * erfc_array(x * np.float32(-1 / np.sqrt(2.0)))).astype(np.float32)
    if mode == "TANH_APPROXIMATION":
        inner = np.float32(np.sqrt(2 / np.pi)) * (x + np.float32(0.044715) * x * x * x)
        return 0.5 * x * (1.0 + np.tanh(inner))
    if mode == "SIGMOID_APPROXIMATION":
        return x * sigmoid_array(np.float32(1.702) * x)
    raise ValueError(f"gelu mode {mode!r} is not one of EXACT, TANH_APPROXIMATION, SIGMOID_APPROXIMATION")


@register("softmax")
def softmax(x, axis=-1):
    """exp(x − max) / Σ exp(x − max) along `axis` (the max shift changes nothing but overflow)."""
    axis = int(axis)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
