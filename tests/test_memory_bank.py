"""Which memories a frame reads, checked against the original's own selection code.

The original `_prepare_memory_conditioned_features` is run on a bank of fake memories whose values encode
their frame index (and whose temporal encodings encode t_pos); the memory it hands to memory attention
is captured and decoded, then compared with `select_memories` for many random banks.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from runtime.memory_bank import from_bfloat16_bits, select_closest_cond_frames, select_memories, to_bfloat16_bits


class _Capture(torch.nn.Module):
    def forward(self, curr, curr_pos, memory, memory_pos, num_obj_ptr_tokens, num_spatial_mem):
        self.memory, self.memory_pos, self.num_ptr_tokens = memory, memory_pos, num_obj_ptr_tokens
        return curr[0]


def _original_selection(orig, frame_idx, cond, non_cond, num_frames, reverse, max_cond):
    def fake(t):
        return {
            "maskmem_features": torch.full((1, 512, 64), float(t)),
            "maskmem_pos_enc": [torch.zeros(1, 512, 64)],
            "obj_ptr": torch.full((1, 256), t + 0.5),
        }

    output_dict = {
        "cond_frame_outputs": {t: fake(t) for t in cond},
        "non_cond_frame_outputs": {t: fake(t) for t in non_cond},
    }
    capture = _Capture()
    saved = orig.memory_attention, orig.max_cond_frames_in_attn, orig.maskmem_tpos_enc.data.clone()
    orig.memory_attention, orig.max_cond_frames_in_attn = capture, max_cond
    orig.maskmem_tpos_enc.data = torch.arange(7, dtype=torch.float32).reshape(7, 1, 1, 1).expand(7, 1, 1, 64) * 1000
    try:
        feats = [torch.zeros(16, 1, 256)]
        orig._prepare_memory_conditioned_features(
            frame_idx, False, feats, feats, [(4, 4)], output_dict, num_frames, reverse
        )
    finally:
        orig.memory_attention, orig.max_cond_frames_in_attn = saved[0], saved[1]
        orig.maskmem_tpos_enc.data = saved[2]
    mem, pos, n_ptr = capture.memory[:, 0, 0], capture.memory_pos[:, 0, 0], capture.num_ptr_tokens
    spatial = len(mem) - n_ptr
    memories = [(int(mem[i]), 7 - 1 - int(pos[i]) // 1000) for i in range(0, spatial, 512)]  # (frame, t_pos)
    ptrs = [int(mem[spatial + i] - 0.5) for i in range(0, n_ptr, 4)]
    return memories, ptrs


def _ours(frame_idx, cond, non_cond, num_frames, reverse, max_cond):
    sel = select_memories(
        frame_idx,
        cond,
        set(non_cond),
        num_maskmem=7,
        max_obj_ptrs=16,
        max_cond=None if max_cond == -1 else max_cond,
        num_frames=num_frames,
        reverse=reverse,
    )
    memories = [(t, 0) for t in sel.cond] + [(e[0], j + 1) for j, e in enumerate(sel.recent) if e is not None]
    return memories, [t for t, _ in sel.ptrs]


def test_selection_matches_the_original(original_small):
    rng = random.Random(0)
    for case in range(300):
        num_frames = rng.choice([5, 12, 40, None])
        span = num_frames or 60
        frame_idx = rng.randrange(span)
        reverse = rng.random() < 0.4
        others = [t for t in range(span) if t != frame_idx]
        cond = rng.sample(others, rng.randint(1, min(6, len(others))))
        if rng.random() < 0.2:
            cond.append(frame_idx)  # a correction on a prompted frame reads its own conditioning memory
        non_cond = [t for t in others if t not in cond and rng.random() < 0.7]
        max_cond = rng.choice([-1, -1, 2, 3])
        ref = _original_selection(original_small, frame_idx, cond, non_cond, num_frames or 10**6, reverse, max_cond)
        ours = _ours(frame_idx, cond, non_cond, num_frames, reverse, max_cond)
        assert sorted(ours[0]) == sorted(ref[0]), (case, frame_idx, cond, non_cond, reverse, max_cond)
        assert sorted(ours[1]) == sorted(ref[1]), (case, frame_idx, cond, non_cond, reverse, max_cond)


def test_closest_cond_frames_cap():
    assert select_closest_cond_frames(10, [0, 4, 9, 12, 30], 3) == [9, 12, 4]
    assert select_closest_cond_frames(10, [0, 4], None) == [0, 4]
    with pytest.raises(ValueError, match="at least 2"):
        select_closest_cond_frames(10, [0, 4, 9], 1)


def test_bfloat16_bits_round_like_torch():
    x = np.random.default_rng(0).normal(0, 3, 100_000).astype(np.float32)
    x[:4] = [0.0, -0.0, 1e-40, 3.0e38]
    ref = torch.from_numpy(x).to(torch.bfloat16).float().numpy()
    assert np.array_equal(from_bfloat16_bits(to_bfloat16_bits(x)), ref)
