"""Example inputs for every stage, drawn from the registry's shapes with values in each input's range.

Used to trace the stages for export and to compare exported graphs with the torch stages.
"""

from __future__ import annotations

import torch

from .registry import STAGES, resolve

# Default sizes of the capacity axes when tracing (ONNX keeps them dynamic anyway).
TRACE_SIZES = {"B": 2, "K": 2, "N": 5, "P": 4}


def example_inputs(stage: str, sizes: dict[str, int], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random but meaningful inputs: features ~N(0,1), 0/1 flags and validity masks with at least one
    valid slot, point labels from {1, 0, 2, 3, −1}, coordinates inside the image, binary masks."""
    gen = torch.Generator().manual_seed(seed)
    image_size = sizes["S"]
    out: dict[str, torch.Tensor] = {}
    for spec in STAGES[stage].inputs:
        shape = tuple(int(d) for d in resolve(spec.shape, sizes))
        name = spec.name
        if name.endswith("_valid"):
            value = (torch.rand(shape, generator=gen) > 0.3).float()
            value[..., 0] = 1.0
        elif name in ("use_mask_input", "multimask", "no_memory", "object_absent", "is_prompted"):
            value = (torch.rand(shape, generator=gen) > 0.5).float()
        elif name == "point_labels":
            value = torch.tensor([1.0, 0.0, 2.0, 3.0, -1.0])[torch.randint(0, 5, shape, generator=gen)]
            value[..., 0] = 1.0
        elif name == "point_coords":
            value = torch.rand(shape, generator=gen) * image_size
        elif name == "mask":
            value = (torch.rand(shape, generator=gen) > 0.5).float()
        elif name in ("mask_input", "low_res_masks"):
            value = torch.randn(shape, generator=gen) * 6
        else:
            value = torch.randn(shape, generator=gen)
        out[name] = value
    return out
