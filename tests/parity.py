"""Parity figures, computed the same way in every test: max |diff| / std(reference), IoU of logits > 0."""

from __future__ import annotations

import numpy as np
import torch


def rel_diff(ours: torch.Tensor | np.ndarray, ref: torch.Tensor | np.ndarray, min_std: float = 1e-12) -> float:
    """max |ours − ref| / std(ref). For mask logits pass min_std=1: a constant map (an absent object at
    −1024, an empty mask prompt at −10) has std ≈ 0, and its error is judged in logit units instead."""
    ours, ref = _np(ours), _np(ref)
    assert ours.shape == ref.shape, f"shape {ours.shape} vs reference {ref.shape}"
    return float(np.abs(ours - ref).max() / max(ref.std(), min_std))


def iou(ours: torch.Tensor | np.ndarray, ref: torch.Tensor | np.ndarray) -> float:
    """IoU of the foregrounds (logits > 0); 1.0 when both are empty."""
    a, b = _np(ours) > 0, _np(ref) > 0
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy().astype(np.float64)
    return np.asarray(x, dtype=np.float64)
