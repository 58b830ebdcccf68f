"""The torch backend: runs the reference stage modules directly (for parity checks and debugging)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reference_model import EdgeTamConfig, Stages, WeightsInfo, load_model, synthetic_model
from reference_model.edgetam import EdgeTAM

from ..contract import STAGES


class TorchBackend:
    name = "torch"

    def __init__(self, model: EdgeTAM, weights: WeightsInfo) -> None:
        self.stages = Stages(model).eval()
        self.config = model.cfg.to_dict()
        self.capacities: dict[str, int | None] = {"K": None, "N": None, "P": None}
        self.weights = weights.to_dict()

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> TorchBackend:
        return cls(*load_model(path))

    @classmethod
    def synthetic(cls, seed: int = 0, config: EdgeTamConfig | None = None) -> TorchBackend:
        return cls(*synthetic_model(seed, config or EdgeTamConfig()))

    @torch.inference_mode()
    def run(self, stage: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        contract = STAGES[stage]
        args = [torch.from_numpy(np.ascontiguousarray(inputs[name], dtype=np.float32)) for name in contract.input_names]
        outputs = getattr(self.stages, stage)(*args)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        return {name: out.numpy() for name, out in zip(contract.output_names, outputs, strict=True)}
