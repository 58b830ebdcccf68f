"""EdgeTAM in PyTorch, split into the stateless stages that ship to devices."""

from .checkpoint import CheckpointError, WeightsInfo, load_model, order_one_, synthetic_model
from .config import EDGETAM, EdgeTamConfig
from .edgetam import EdgeTAM
from .stages import Stages

__all__ = [
    "EDGETAM",
    "CheckpointError",
    "EdgeTAM",
    "EdgeTamConfig",
    "Stages",
    "WeightsInfo",
    "load_model",
    "order_one_",
    "synthetic_model",
]
