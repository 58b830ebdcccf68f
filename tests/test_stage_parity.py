"""Each stage against the matching computation of the original EdgeTAM code, same weights (512² config).

Bars: max |diff| / std(reference) ≤ 1e-4 for features, IoU 1.0 for mask foregrounds.
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import SMALL
from tests.parity import iou, rel_diff

FEAT = SMALL // 16
LOW = 4 * FEAT


@pytest.fixture(scope="module")
def frame_features(original_small):
    torch.manual_seed(1)
    image = torch.randn(1, 3, SMALL, SMALL)
    with torch.no_grad():
        out = original_small.forward_image(image)
    return image, out


@torch.no_grad()
def test_image_encoder(small_stages, frame_features):
    image, ref = frame_features
    feats, high0, high1 = small_stages.image_encoder(image)
    assert rel_diff(feats, ref["vision_features"]) < 1e-4
    assert rel_diff(high0, ref["backbone_fpn"][0]) < 1e-4
    assert rel_diff(high1, ref["backbone_fpn"][1]) < 1e-4


def _points(coords: list[list[float]], labels: list[int]) -> dict:
    return {
        "point_coords": torch.tensor([coords], dtype=torch.float32),
        "point_labels": torch.tensor([labels], dtype=torch.int32),
    }


DECODER_CASES = {
    "one_click_multimask": (_points([[100.0, 200.0]], [1]), None, True, True),
    "box_and_points_single": (_points([[50, 60], [300, 400], [120, 130], [200, 90]], [2, 3, 1, 0]), None, False, True),
    "correction_with_mask_input": (_points([[250.0, 260.0], [10.0, 500.0]], [1, 0]), "logits", False, False),
    "tracking_no_prompt": (None, None, True, False),
    "mask_prompt": (None, "binary", False, False),
}


@pytest.mark.parametrize("case", list(DECODER_CASES))
@torch.no_grad()
def test_mask_decoder(case, small_stages, original_small, frame_features):
    point_inputs, mask_kind, multimask, first_frame = DECODER_CASES[case]
    _, ref_feats = frame_features
    feats = ref_feats["vision_features"]
    high_res = ref_feats["backbone_fpn"][:2]
    torch.manual_seed(2)
    mask_inputs = None
    if mask_kind == "logits":
        mask_inputs = torch.randn(1, 1, LOW, LOW) * 8
    elif mask_kind == "binary":
        mask_inputs = original_small.mask_downsample((torch.rand(1, 1, SMALL, SMALL) > 0.6).float())
    # The original adds the no-memory embedding before the heads on a first (conditioning) frame.
    embed = feats + original_small.no_mem_embed.reshape(1, -1, 1, 1) if first_frame else feats
    ref = original_small._forward_sam_heads(embed, point_inputs, mask_inputs, high_res, multimask)
    _, _, ref_iou, ref_low, _, ref_ptr, ref_score = ref

    slots = 6  # padded point slots: the unused ones carry label -1
    coords, labels = torch.zeros(1, slots, 2), torch.full((1, slots), -1.0)
    if point_inputs is not None:
        n = point_inputs["point_labels"].shape[1]
        coords[:, :n] = point_inputs["point_coords"]
        labels[:, :n] = point_inputs["point_labels"].float()
    flag = lambda v: torch.tensor([[float(v)]])  # noqa: E731
    low, iou_pred, score, ptr = small_stages.mask_decoder(
        feats,
        high_res[0],
        high_res[1],
        coords,
        labels,
        mask_inputs if mask_inputs is not None else torch.zeros(1, 1, LOW, LOW),
        flag(mask_inputs is not None),
        flag(multimask),
        flag(first_frame),
        flag(0),
    )
    assert iou(low, ref_low) == 1.0
    assert rel_diff(low, ref_low) < 1e-4
    assert rel_diff(score, ref_score) < 1e-4 or abs(float(score - ref_score)) < 1e-4
    assert rel_diff(ptr, ref_ptr) < 1e-4
    assert abs(float(iou_pred - ref_iou.max(dim=-1, keepdim=True).values)) < 1e-4 or not multimask


@pytest.mark.parametrize("prompted", [False, True])
@torch.no_grad()
def test_memory_encoder(prompted, small_stages, original_small, frame_features):
    _, ref_feats = frame_features
    feats = ref_feats["vision_features"]
    torch.manual_seed(3)
    low_res = torch.randn(2, 1, LOW, LOW) * 6  # two objects: the perceiver must handle batch > 1
    high_res = torch.nn.functional.interpolate(low_res, size=(SMALL, SMALL), mode="bilinear", align_corners=False)
    flat = [feats.expand(2, -1, -1, -1).flatten(2).permute(2, 0, 1)]
    ref_mem, ref_pos = original_small._encode_new_memory(flat, [(FEAT, FEAT)], high_res, None, prompted)
    mem = small_stages.memory_encoder(feats, low_res, torch.full((2, 1), float(prompted)))
    assert rel_diff(mem, ref_mem) < 1e-4
    assert rel_diff(small_stages.memory_attention.token_pos.expand(2, -1, -1), ref_pos[0]) < 1e-6


@torch.no_grad()
def test_memory_attention(small_stages, original_small, frame_features):
    """Two conditioning memories in three slots, three of six recent slots, five of eight pointers."""
    _, ref_feats = frame_features
    feats = ref_feats["vision_features"]
    orig = original_small
    torch.manual_seed(4)
    flat = [feats.flatten(2).permute(2, 0, 1)]
    mems, pos = [], None
    for _ in range(5):
        high = torch.randn(1, 1, SMALL, SMALL) * 6
        m, p = orig._encode_new_memory(flat, [(FEAT, FEAT)], high, None, False)
        mems.append(m)
        pos = p[0]
    ptrs = torch.randn(5, 1, 256)
    tpos = orig.maskmem_tpos_enc  # [7, 1, 1, 64]
    cond_t, recent_t = [0, 0], [2, 4, 6]  # t_pos of each memory, as the original numbers them

    memory = torch.cat(
        [m.permute(1, 0, 2) for m in mems] + [ptrs.reshape(5, 1, 4, 64).permute(0, 2, 1, 3).flatten(0, 1)]
    )
    memory_pos = torch.cat(
        [(pos + tpos[7 - t - 1].reshape(1, 1, 64)).permute(1, 0, 2) for t in cond_t + recent_t]
        + [torch.zeros(20, 1, 64)]
    )
    curr_pos = orig.image_encoder.neck.position_encoding(feats).flatten(2).permute(2, 0, 1)
    ref = orig.memory_attention(
        curr=flat, curr_pos=[curr_pos], memory=memory, memory_pos=memory_pos, num_obj_ptr_tokens=20, num_spatial_mem=5
    )
    ref = ref.permute(1, 2, 0).reshape(1, 256, FEAT, FEAT)

    cond_mem = torch.zeros(1, 3, 512, 64)
    cond_mem[0, 0], cond_mem[0, 2] = mems[0][0], mems[1][0]
    cond_valid = torch.tensor([[1.0, 0.0, 1.0]])
    recent_mem = torch.zeros(1, 6, 512, 64)
    recent_valid = torch.zeros(1, 6)
    for mem, t in zip(mems[2:], recent_t):
        recent_mem[0, t - 1], recent_valid[0, t - 1] = mem[0], 1.0
    obj_ptrs = torch.zeros(1, 8, 256)
    ptr_valid = torch.tensor([[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]])
    obj_ptrs[0, ptr_valid[0] > 0] = ptrs[:, 0]
    obj_ptrs[0, ptr_valid[0] == 0] = 1e3  # garbage in padded slots must not matter
    ours = small_stages.memory_attention(feats, cond_mem, cond_valid, recent_mem, recent_valid, obj_ptrs, ptr_valid)
    assert rel_diff(ours, ref) < 1e-4
