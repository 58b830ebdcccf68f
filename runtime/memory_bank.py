"""What each frame leaves behind for later frames, and which of it a frame reads.

The selection follows the original `SAM2Base._prepare_memory_conditioned_features` exactly:
conditioning memories (frames the user prompted, optionally capped to the temporally closest), the
memories of the `num_maskmem − 1` frames just before (after, in reverse) the current one, and object
pointers from prompted frames in the past plus up to `max_obj_ptrs − 1` earlier frames. Memory features
are stored as bfloat16 bit patterns (uint16), as the original stores them: half the bytes, same values.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass

import numpy as np


def to_bfloat16_bits(x: np.ndarray) -> np.ndarray:
    """float32 → bfloat16 bit patterns (uint16), rounding to nearest even like torch's `.to(torch.bfloat16)`."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


def from_bfloat16_bits(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) → float32 (exact)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


@dataclass
class FrameMemory:
    """One frame's outputs for all objects of a session (object index on axis 0)."""

    low_res_masks: np.ndarray  # [N, 1, 4F, 4F] float32 mask logits
    obj_ptr: np.ndarray  # [N, C] float32
    object_score_logits: np.ndarray  # [N, 1] float32
    mem_bits: np.ndarray | None = None  # [N, T, M] bfloat16 bits; None until the memory is encoded

    @property
    def nbytes(self) -> int:
        arrays = (self.low_res_masks, self.obj_ptr, self.object_score_logits, self.mem_bits)
        return sum(a.nbytes for a in arrays if a is not None)


@dataclass(frozen=True)
class MemorySelection:
    """Frame indices a frame reads, in the original's order.

    cond: conditioning frames (t_pos 0). recent: one entry per recent slot j (t_pos j + 1), the frame
    index or None for an empty slot, with whether it is read from the conditioning store. ptrs: frames
    whose object pointers are read, each with whether it comes from the conditioning store.
    """

    cond: tuple[int, ...]
    recent: tuple[tuple[int, bool] | None, ...]
    ptrs: tuple[tuple[int, bool], ...]


def select_closest_cond_frames(frame_idx: int, cond_frames: Iterable[int], max_cond: int | None) -> list[int]:
    """The conditioning frames a frame attends to: all of them, or at most `max_cond`: the closest before,
    the closest at-or-after, then the temporally closest others (the original's tie-breaking)."""
    frames = list(cond_frames)
    if max_cond is None or len(frames) <= max_cond:
        return frames
    if max_cond < 2:
        raise ValueError("at least 2 conditioning slots are needed when capping conditioning frames")
    selected: list[int] = []
    before = [t for t in frames if t < frame_idx]
    after = [t for t in frames if t >= frame_idx]
    if before:
        selected.append(max(before))
    if after:
        selected.append(min(after))
    rest = sorted((t for t in frames if t not in selected), key=lambda t: abs(t - frame_idx))
    return selected + rest[: max_cond - len(selected)]


def select_memories(
    frame_idx: int,
    cond_frames: Iterable[int],
    non_cond_frames: Container[int],
    *,
    num_maskmem: int,
    max_obj_ptrs: int,
    max_cond: int | None,
    num_frames: int | None,
    reverse: bool,
) -> MemorySelection:
    """Which stored frames the frame `frame_idx` reads (see module docstring)."""
    cond_all = list(cond_frames)
    cond = select_closest_cond_frames(frame_idx, cond_all, max_cond)
    unselected = set(cond_all) - set(cond)
    step = 1 if reverse else -1  # direction towards the frames already processed

    recent: list[tuple[int, bool] | None] = []
    for t_pos in range(1, num_maskmem):
        prev = frame_idx + step * (num_maskmem - t_pos)
        if prev in non_cond_frames:
            recent.append((prev, False))
        elif prev in unselected:
            recent.append((prev, True))  # an unselected conditioning frame among the recent ones
        else:
            recent.append(None)

    limit = max_obj_ptrs if num_frames is None else min(num_frames, max_obj_ptrs)
    ptrs = [(t, True) for t in cond if (t >= frame_idx if reverse else t <= frame_idx)]
    for t_diff in range(1, limit):
        t = frame_idx + step * t_diff
        if t < 0 or (num_frames is not None and t >= num_frames):
            break
        if t in non_cond_frames:
            ptrs.append((t, False))
        elif t in unselected:
            ptrs.append((t, True))
    return MemorySelection(tuple(cond), tuple(recent), tuple(ptrs))
