"""Example inputs for every stage, drawn from the registry's shapes with values in each input's range.

Used to trace the stages for export, to compare exported graphs with the torch stages and to time
the stages (`benchmarks`), which is why the arrays are numpy: timing a graph must not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from runtime.contract import STAGES, resolve

if TYPE_CHECKING:
    import torch

# Default sizes of the capacity axes when tracing (ONNX keeps them dynamic anyway).
TRACE_SIZES = {"B": 2, "K": 2, "N": 5, "P": 4}

_FLAGS = ("use_mask_input", "multimask", "no_memory", "object_absent", "is_prompted")


def example_arrays(stage: str, sizes: dict[str, int], seed: int = 0, all_valid: bool = False) -> dict[str, np.ndarray]:
    """Random but meaningful float32 inputs: features ~N(0,1), 0/1 flags and validity masks with at least
    one valid slot (every slot with `all_valid`, a steady-state frame), point labels from {1, 0, 2, 3, −1},
    coordinates inside the image, binary masks."""
    rng = np.random.default_rng(seed)
    image_size = sizes["S"]
    out: dict[str, np.ndarray] = {}
    for spec in STAGES[stage].inputs:
        shape = tuple(int(d) for d in resolve(spec.shape, sizes))
        name = spec.name
        if name.endswith("_valid"):
            value = np.ones(shape) if all_valid else (rng.random(shape) > 0.3).astype(np.float64)
            value[..., 0] = 1.0
        elif name in _FLAGS:
            value = (rng.random(shape) > 0.5).astype(np.float64)
        elif name == "point_labels":
            value = np.array([1.0, 0.0, 2.0, 3.0, -1.0])[rng.integers(0, 5, shape)]
            value[..., 0] = 1.0
        elif name == "point_coords":
            value = rng.random(shape) * image_size
        elif name == "mask":
            value = (rng.random(shape) > 0.5).astype(np.float64)
        elif name in ("mask_input", "low_res_masks"):
            value = rng.standard_normal(shape) * 6
        else:
            value = rng.standard_normal(shape)
        out[name] = value.astype(np.float32)
    return out


def example_inputs(stage: str, sizes: dict[str, int], seed: int = 0) -> dict[str, torch.Tensor]:
    """`example_arrays` as torch tensors, for tracing and for the torch stages."""
    import torch

    return {name: torch.from_numpy(value) for name, value in example_arrays(stage, sizes, seed).items()}
