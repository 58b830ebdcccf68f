"""Elementwise ops: numpy-broadcast binary arithmetic and comparisons, unary math, cast, clip, select."""

from __future__ import annotations

import numpy as np

from . import register

# MIL dtype names → numpy (cast's `dtype` parameter, reduce_argmax's `output_dtype`).
NUMPY_DTYPES = {
    "fp16": np.float16,
    "fp32": np.float32,
    "fp64": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "bool": np.bool_,
}

_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "pow": np.power,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_xor": np.logical_xor,
}


def _binary(fn):
    def apply(x, y):
        return fn(x, y)

    return apply


for _name, _fn in _BINARY.items():
    register(_name)(_binary(_fn))


@register("real_div")
def real_div(x, y):
    """x / y; on integer tensors the quotient is rounded toward zero when stored as the output's int type."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.true_divide(x, y)


@register("floor_div")
def floor_div(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.floor_divide(x, y)


@register("mod")
def mod(x, y):
    return np.mod(x, y)


_UNARY = {
    "abs": np.abs,
    "cos": np.cos,
    "sin": np.sin,
    "exp": np.exp,
    "floor": np.floor,
    "ceil": np.ceil,
    "sign": np.sign,
    "square": np.square,
    "logical_not": np.logical_not,
}

for _name, _fn in _UNARY.items():
    register(_name)(lambda x, _fn=_fn: _fn(x))


@register("sqrt")
def sqrt(x):
    with np.errstate(invalid="ignore"):
        return np.sqrt(x)


@register("log")
def log(x, epsilon=1e-45):
    """log(x + epsilon) (iOS 17 adds the epsilon parameter)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x + np.float32(epsilon))


@register("round")
def round_(x):
    """To the nearest integer, halves to even (coremltools' value inference of `round`)."""
    return np.round(x)


@register("rsqrt")
def rsqrt(x, epsilon=1e-12):
    """1 / sqrt(x + epsilon): the epsilon is added under the root."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / np.sqrt(x + np.float32(epsilon))


@register("inverse")
def inverse(x, epsilon=1e-4):
    """1 / (x + epsilon)."""
    with np.errstate(divide="ignore"):
        return 1.0 / (x + np.float32(epsilon))


@register("clip")
def clip(x, alpha, beta):
    """min(max(x, alpha), beta)."""
    return np.minimum(np.maximum(x, alpha), beta)


@register("cast")
def cast(x, dtype):
    """Converts to `dtype`; float → int truncates toward zero (numpy's astype, as coremltools' value inference)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(x).astype(NUMPY_DTYPES[str(dtype)])


@register("select")
def select(cond, a, b):
    """cond ? a : b, broadcast."""
    return np.where(cond, a, b)
