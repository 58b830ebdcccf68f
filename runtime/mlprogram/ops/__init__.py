"""MIL op implementations, one module per op family, and the registry that maps an op type to its function.

Every implementation takes the op's inputs as keyword arguments (numpy arrays; float tensors arrive as
float32 whatever their stored type, scalars and strings as their Python/numpy values) and returns one array
or a tuple of arrays, one per output. The interpreter casts each result to the type the program gives that
output, which is where float16 storage happens (see `runtime.mlprogram.program`).

Semantics follow coremltools' MIL op definitions (`coremltools/converters/mil/mil/ops/defs/`): the
docstring of each implementation names the rule it follows where it is not obvious.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

OpFunction = Callable[..., "np.ndarray | tuple[np.ndarray, ...]"]
REGISTRY: dict[str, OpFunction] = {}


def register(*op_types: str) -> Callable[[OpFunction], OpFunction]:
    """Decorator: `fn` implements the MIL op types named."""

    def decorate(fn: OpFunction) -> OpFunction:
        for op_type in op_types:
            if op_type in REGISTRY:
                raise ValueError(f"MIL op {op_type!r} registered twice")
            REGISTRY[op_type] = fn
        return fn

    return decorate


def supported_ops() -> list[str]:
    return sorted(REGISTRY)


# Importing the families fills REGISTRY.
from . import (  # noqa: E402,F401
    activations,
    compression,
    elementwise,
    linear,
    normalization,
    reductions,
    resampling,
    shape,
)
