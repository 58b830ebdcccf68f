"""Where float16 storage loses precision: a program run as stored (float16 tensors) against the same
program with every tensor kept in float32, compared op by op.

Each op output gets its error against the float32 run (max |diff| / std of the float32 value, and
cosine) and its *gain*: that error over the largest error among the op's inputs. An op whose output is
much worse than its inputs is where precision goes (a reduction accumulated into a large float16 value, a
squared term, an overflow to inf); an op that only carries its inputs' error along has gain ≈ 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .program import Program


@dataclass
class OpLoss:
    index: int  # position in the program
    name: str  # the op's output
    op_type: str
    shape: tuple[int, ...]
    rel_diff: float  # max |fp16 − fp32| / std(fp32)
    cosine: float
    gain: float  # rel_diff / max rel_diff of the inputs
    overflow: bool  # ±inf in the float16 run where the float32 run is finite
    peak: float  # max |value| in the float32 run


def _figures(a: np.ndarray, b: np.ndarray) -> tuple[float, float, bool]:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    overflow = bool(np.any(~np.isfinite(a64) & np.isfinite(b64)))
    finite = np.isfinite(a64) & np.isfinite(b64)
    if not finite.any():
        return 0.0, 1.0, overflow
    diff = np.abs(a64[finite] - b64[finite]).max()
    rel = float(diff / max(b64[finite].std(), 1e-12))
    denom = np.linalg.norm(a64[finite]) * np.linalg.norm(b64[finite])
    cos = float(a64[finite] @ b64[finite] / denom) if denom > 0 else 1.0
    return (np.inf if overflow else rel), cos, overflow


def storage_losses(program: Program, feeds: dict[str, np.ndarray]) -> list[OpLoss]:
    """Every float op output of `program` on `feeds`: its float16-storage error, in program order."""
    stored = program.run(feeds, record=True)
    wide = program.run(feeds, storage="float32", record=True)
    errors: dict[str, float] = {}
    losses = []
    for index, step in enumerate(program.steps):
        inputs = [a.value for a in step.args.values() if a.kind == "var"]
        inputs += [v.value for a in step.args.values() if a.kind == "list" for v in a.value if v.kind == "var"]
        err_in = max((errors.get(name, 0.0) for name in inputs), default=0.0)
        for name, dtype, half in step.outputs:
            if name not in stored or not (half or dtype.kind == "f"):
                continue
            a, b = np.asarray(stored[name]), np.asarray(wide[name])
            if a.size == 0:
                continue
            rel, cos, overflow = _figures(a, b)
            errors[name] = rel
            gain = rel / err_in if err_in > 0 else (np.inf if rel > 0 else 1.0)
            peak = float(np.nanmax(np.abs(b))) if np.isfinite(b).any() else 0.0
            losses.append(OpLoss(index, name, step.op_type, a.shape, rel, cos, float(gain), overflow, peak))
    return losses


def worst_ops(losses: list[OpLoss], top: int = 8, min_rel: float = 1e-3) -> list[OpLoss]:
    """The ops that add the most error: overflows first, then the largest gains among outputs whose own
    error is at least `min_rel`."""
    candidates = [loss for loss in losses if loss.overflow or loss.rel_diff >= min_rel]
    return sorted(candidates, key=lambda loss: (not loss.overflow, -loss.gain, -loss.rel_diff))[:top]


def describe(loss: OpLoss) -> str:
    flag = " OVERFLOW" if loss.overflow else ""
    return (
        f"#{loss.index:<5} {loss.op_type:<18} {loss.name:<40} {str(list(loss.shape)):<20} "
        f"max|d|/std {loss.rel_diff:9.2e}  cosine {loss.cosine:.6f}  gain ×{loss.gain:8.1f}  "
        f"peak {loss.peak:10.1f}{flag}"
    )
