"""Activation ops: relu, sigmoid, tanh, silu, gelu (three modes), softmax, erf."""

from __future__ import annotations

import numpy as np

from . import register

# Abramowitz & Stegun 7.1.26 is accurate to 1.5e-7 absolute; numpy has no erf, and float32 results need
# no more. Evaluated in float64 so the polynomial itself adds no rounding.
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf_array(x: np.ndarray) -> np.ndarray:
    z = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + _P * z)
    poly = t * (_A[0] + t * (_A[1] + t * (_A[2] + t * (_A[3] + t * _A[4]))))
    return (np.sign(x) * (1.0 - poly * np.exp(-z * z))).astype(np.float32)


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
        return 0.5 * x * (1.0 + erf_array(x * np.float32(1 / np.sqrt(2.0))))
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
