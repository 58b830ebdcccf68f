"""The two oracles (Meta's EdgeTAM code, Hugging Face EdgeTamVideoModel) agree given the same weights.

Weights: order-one draw on the original model, converted with ``reference_model.hf_keys.original_to_hf``.
Both sides get identical network inputs: the frames go through JPEG (as the original predictor only
reads JPEG folders), are decoded back, preprocessed once with the HF video processor (torchvision
antialiased bilinear, uint8 rounding, ImageNet mean/std), and that tensor replaces the original's own
PIL-bicubic preprocessing in its inference state. Runs at image_size 512 (all derived sizes follow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.oracles import build_hf_model, build_original_predictor
from reference_model import EdgeTamConfig, synthetic_model
from reference_model.hf_keys import hf_to_original, original_to_hf
from tests.parity import iou, rel_diff

IMAGE_SIZE = 512
VIDEO_H, VIDEO_W = 240, 320  # non-square, smaller than the model input: tests prompt and mask rescaling
NUM_FRAMES = 3
CLICK = (100.0, 120.0)  # (x, y) in video pixels, inside the red rectangle of frame 0


def make_frames(num_frames: int = NUM_FRAMES, seed: int = 0) -> list[np.ndarray]:
    """Moving red rectangle and green disc on uniform noise, uint8 HxWx3."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:VIDEO_H, :VIDEO_W]
    frames = []
    for t in range(num_frames):
        img = (rng.integers(0, 256, (VIDEO_H, VIDEO_W, 3), dtype=np.uint8) // 2 + 40).astype(np.uint8)
        img[(np.abs(yy - 120) < 40) & (np.abs(xx - (100 + 10 * t)) < 50)] = (230, 40, 40)
        img[(yy - 80) ** 2 + (xx - (230 - 8 * t)) ** 2 < 35**2] = (40, 200, 60)
        frames.append(img)
    return frames


@pytest.fixture(scope="module")
def oracles():
    original = build_original_predictor(IMAGE_SIZE)
    hf_model, processor = build_hf_model(IMAGE_SIZE)
    return original, hf_model, processor


@pytest.fixture(scope="module")
def clip(tmp_path_factory, oracles):
    """(jpeg folder, decoded uint8 frames, HF-preprocessed pixel values [T, 3, S, S])."""
    _, _, processor = oracles
    folder = tmp_path_factory.mktemp("clip_jpeg")
    for i, frame in enumerate(make_frames()):
        Image.fromarray(frame).save(folder / f"{i:05d}.jpg", quality=90)
    decoded = [np.array(Image.open(folder / f"{i:05d}.jpg").convert("RGB")) for i in range(NUM_FRAMES)]
    pixels = processor.video_processor(videos=decoded, return_tensors="pt").pixel_values_videos[0]
    assert pixels.shape == (NUM_FRAMES, 3, IMAGE_SIZE, IMAGE_SIZE)
    return folder, decoded, pixels.float()


def load_same_weights(original, hf_model, seed: int) -> dict[str, torch.Tensor]:
    state = synthetic_model(seed, EdgeTamConfig(image_size=IMAGE_SIZE))[0].state_dict()
    original.load_state_dict(state, strict=True)
    try:
        hf_model.load_state_dict(original_to_hf(state), strict=True)
    except RuntimeError as err:  # lists missing / unexpected keys
        pytest.fail(f"converted state dict does not load strictly into EdgeTamVideoModel:\n{err}")
    return state


def test_key_map_round_trip_is_exact(oracles):
    original, hf_model, _ = oracles
    state = load_same_weights(original, hf_model, seed=0)
    back = hf_to_original(original_to_hf(state))
    assert set(back) == set(state)
    for key, tensor in state.items():
        assert back[key].shape == tensor.shape and torch.equal(back[key], tensor), key
    # the HF model's own state dict (after loading) maps back to the same tensors
    from_hf = hf_to_original(hf_model.state_dict())
    assert set(from_hf) == set(state)
    assert all(torch.equal(from_hf[k], state[k]) for k in state)


def test_key_map_rejects_unknown_keys(oracles):
    original, _, _ = oracles
    state = dict(original.state_dict())
    with pytest.raises(KeyError, match="not_a_real.key"):
        original_to_hf({**state, "not_a_real.key": torch.zeros(1)})
    hf_state = original_to_hf(state)
    with pytest.raises(KeyError, match="vision_encoder.bogus"):
        hf_to_original({**hf_state, "vision_encoder.bogus": torch.zeros(1)})


def test_image_encoder_features_agree(oracles, clip):
    original, hf_model, _ = oracles
    load_same_weights(original, hf_model, seed=0)
    pixels = clip[2][:1]
    with torch.inference_mode():
        ref = original.forward_image(pixels)
        out = hf_model.get_image_features(pixels)
    for level in range(3):  # strides 4, 8 (after conv_s0 / conv_s1), 16
        for ref_t, hf_flat in (
            (ref["backbone_fpn"][level], out.fpn_hidden_states[level]),
            (ref["vision_pos_enc"][level], out.fpn_position_encoding[level]),
        ):
            hf_t = hf_flat.permute(1, 2, 0).reshape(ref_t.shape)  # (HW, B, C) -> (B, C, H, W)
            assert rel_diff(hf_t, ref_t) <= 1e-4, f"level {level}: {rel_diff(hf_t, ref_t):.2e}"


def run_hf(hf_model, processor, decoded, click) -> dict[int, torch.Tensor]:
    session = processor.init_video_session(video=decoded, inference_device="cpu", dtype=torch.float32)
    processor.add_inputs_to_inference_session(
        inference_session=session,
        frame_idx=0,
        obj_ids=1,
        input_points=[[[list(click)]]],
        input_labels=[[[1]]],
    )
    low_res = {0: hf_model(inference_session=session, frame_idx=0).pred_masks}
    for out in hf_model.propagate_in_video_iterator(session):
        low_res[out.frame_idx] = out.pred_masks
    return {
        f: processor.post_process_masks([m], original_sizes=[[VIDEO_H, VIDEO_W]], binarize=False)[0]
        for f, m in low_res.items()
    }


def run_original(original, folder: Path, pixels: torch.Tensor, click) -> dict[int, torch.Tensor]:
    state = original.init_state(str(folder))
    state["images"] = pixels.clone()  # identical network input on both sides
    state["cached_features"] = {}  # init_state cached frame 0 from its own preprocessing
    original.add_new_points_or_box(
        state, frame_idx=0, obj_id=1, points=np.array([click], np.float32), labels=np.array([1], np.int32)
    )
    return {f: masks for f, _, masks in original.propagate_in_video(state)}


def test_tracking_masks_agree(oracles, clip):
    seed, informative = 1, True
    original, hf_model, processor = oracles
    folder, decoded, pixels = clip
    load_same_weights(original, hf_model, seed=seed)

    ref = run_original(original, folder, pixels, CLICK)
    got = run_hf(hf_model, processor, decoded, CLICK)

    assert sorted(ref) == sorted(got) == list(range(NUM_FRAMES))
    report = []
    for f in range(NUM_FRAMES):
        a, b = ref[f], got[f]
        assert a.shape == b.shape == (1, 1, VIDEO_H, VIDEO_W)
        frame_iou, rel = iou(a, b), rel_diff(b, a)
        report.append(f"frame {f}: IoU {frame_iou:.4f} max|diff|/std {rel:.1e} fg {(a > 0).float().mean():.2f}")
        assert frame_iou >= 0.99, "\n".join(report)
        assert rel <= 1e-2, "\n".join(report)
        if informative:  # guard against a vacuous pass (empty or full masks)
            assert 0.01 < (a > 0).float().mean().item() < 0.99, "fixture not informative:\n" + "\n".join(report)
    print("\n".join(report))
