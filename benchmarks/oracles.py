"""Builders for the two EdgeTAM implementations this toolkit is compared with: the tests' oracles and
the benchmark's baselines.

* ``build_original_predictor``: Meta's EdgeTAM ``SAM2VideoPredictor`` (module ``sam2`` from the
  ``edgetam-dimos`` wheel, config ``configs/edgetam.yaml``), with the two fixes from TESTING.md.
* ``build_hf_model``: Hugging Face ``EdgeTamVideoModel`` + ``Sam2VideoProcessor`` with the real
  EdgeTAM config (RepViT-M1 backbone, no temporal pos-enc on object pointers, no occlusion embedding).
* ``jpeg_roundtrip`` and ``original_state``: the original reads a JPEG folder and resizes with its own
  loader; every side is given the decoded pixels, and the original this toolkit's resized frames.

Weights come from ``reference_model.synthetic_model`` (the product's order-one recipe), loaded by name.
Both builders accept ``image_size`` = any multiple of 256 (256, 512, 768, 1024); every size that
follows from it is set consistently (see ``derived_sizes``). Their packages (``edgetam-dimos``,
``transformers``, ``timm``) are test extras: only the tests and ``edgetam-export bench`` import this
module, and the benchmark skips a baseline whose package is missing.
"""

from __future__ import annotations

import contextlib
import io
import math
import types
from pathlib import Path

import numpy as np
import torch

BACKBONE_STRIDE = 16  # stride of the lowest-resolution FPN level used by memory attention
PERCEIVER_GRID = 16  # sqrt(num_latents_2d): the 2-D perceiver latents form a 16x16 grid


def derived_sizes(image_size: int = 1024) -> dict[str, object]:
    """Every size that follows from ``image_size`` (the square model input side, in pixels)."""
    if image_size % (BACKBONE_STRIDE * PERCEIVER_GRID) != 0:
        raise ValueError(
            f"image_size must be a multiple of {BACKBONE_STRIDE * PERCEIVER_GRID} (stride 16 feature map "
            f"split into a {PERCEIVER_GRID}x{PERCEIVER_GRID} perceiver window grid); got {image_size}"
        )
    feat = image_size // BACKBONE_STRIDE
    return {
        "image_size": image_size,
        "feat_size": feat,  # stride-16 map: memory-attention queries, prompt-encoder embedding
        "backbone_feature_sizes": [[4 * feat, 4 * feat], [2 * feat, 2 * feat], [feat, feat]],
        "rope_q_sizes": [feat, feat],  # RoPE grid of the current-frame tokens
        "rope_k_sizes": [PERCEIVER_GRID, PERCEIVER_GRID],  # RoPE grid of the 2-D perceiver latents (fixed)
        "perceiver_window": feat // PERCEIVER_GRID,
        "low_res_mask_size": 4 * feat,  # SAM decoder output / mask prompt input size
    }


# --------------------------------------------------------------------------------------------------
# Original (Meta) EdgeTAM
# --------------------------------------------------------------------------------------------------


def _perceiver_forward_2d_fixed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``PerceiverResampler.forward_2d`` without the batch>1 crash.

    Each of the ``num_latents_2d`` latents attends to the pixels of its own window of the stride-16
    memory map; the latents of all (batch, window) pairs are processed as one batch of 1-token queries.
    """
    from sam2.modeling.perceiver import window_partition

    batch, channels, height, _ = x.shape
    grid = int(math.sqrt(self.num_latents_2d))
    window = height // grid
    # one query token per (batch, window); expand() is not contiguous, so reshape instead of view
    queries = self.latents_2d.unsqueeze(0).expand(batch, -1, -1).reshape(batch * grid * grid, 1, channels)
    pixels = window_partition(x.permute(0, 2, 3, 1), window).flatten(1, 2)
    for layer in self.layers:
        queries = layer(queries, pixels)
    latent_map = queries.reshape(batch, grid, grid, channels).permute(0, 3, 1, 2)
    pos = self.position_encoding(latent_map).permute(0, 2, 3, 1).flatten(1, 2)
    latents = self.norm(latent_map.permute(0, 2, 3, 1).flatten(1, 2))
    return latents, pos


@contextlib.contextmanager
def _timm_without_pretrained():
    """Make ``sam2``'s TimmBackbone build its RepViT trunk with ``pretrained=False`` (no download)."""
    import sam2.modeling.backbones.timm as sam2_timm

    real_create_model = sam2_timm.create_model

    def create_model_offline(*args, **kwargs):
        kwargs["pretrained"] = False
        return real_create_model(*args, **kwargs)

    sam2_timm.create_model = create_model_offline
    try:
        yield
    finally:
        sam2_timm.create_model = real_create_model


def build_original_predictor(image_size: int = 1024):
    """Meta's EdgeTAM ``SAM2VideoPredictor`` on CPU, fp32, eval mode, random weights.

    Uses ``build_sam2_video_predictor`` (so the predictor's own overrides apply: dynamic multimask via
    stability 0.05/0.98, ``binarize_mask_from_pts_for_mem_enc=True``, ``fill_hole_area=8``; the latter
    needs sam2's CUDA extension and is skipped with a warning on CPU).
    """
    from sam2.build_sam import build_sam2_video_predictor

    sizes = derived_sizes(image_size)
    q = sizes["rope_q_sizes"]
    overrides = [
        f"++model.image_size={image_size}",
        # RoPEAttention recomputes its table from the token count anyway; kept consistent for clarity
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{q[0]},{q[1]}]",
        # RoPEAttentionv2 does NOT recompute: q table must match the stride-16 grid of the frame
        f"++model.memory_attention.layer.cross_attention.q_sizes=[{q[0]},{q[1]}]",
    ]
    with _timm_without_pretrained(), contextlib.redirect_stdout(io.StringIO()):
        predictor = build_sam2_video_predictor(
            "configs/edgetam.yaml", ckpt_path=None, device="cpu", mode="eval", hydra_overrides_extra=overrides
        )
    perceiver = predictor.spatial_perceiver
    perceiver.forward_2d = types.MethodType(_perceiver_forward_2d_fixed, perceiver)
    return predictor.float().eval()


# --------------------------------------------------------------------------------------------------
# Hugging Face EdgeTAM
# --------------------------------------------------------------------------------------------------


def build_hf_config(image_size: int = 1024):
    """``EdgeTamVideoConfig`` equal to ``configs/edgetam.yaml`` (+ the video predictor's overrides)."""
    from transformers import (
        EdgeTamVideoConfig,
        EdgeTamVideoMaskDecoderConfig,
        EdgeTamVideoPromptEncoderConfig,
        EdgeTamVisionConfig,
        TimmWrapperConfig,
    )

    sizes = derived_sizes(image_size)
    backbone = TimmWrapperConfig(
        architecture="repvit_m1.dist_in1k",
        model_args={"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]},
    )
    vision = EdgeTamVisionConfig(
        backbone_config=backbone,
        backbone_channel_list=[384, 192, 96, 48],
        backbone_feature_sizes=sizes["backbone_feature_sizes"],
        fpn_hidden_size=256,
        fpn_top_down_levels=[2, 3],
        num_feature_levels=3,  # use_high_res_features_in_sam: true
    )
    prompt = EdgeTamVideoPromptEncoderConfig(image_size=image_size, patch_size=BACKBONE_STRIDE)
    decoder = EdgeTamVideoMaskDecoderConfig(
        dynamic_multimask_via_stability=True,
        dynamic_multimask_stability_delta=0.05,
        dynamic_multimask_stability_thresh=0.98,
    )
    return EdgeTamVideoConfig(
        vision_config=vision,
        prompt_encoder_config=prompt,
        mask_decoder_config=decoder,
        image_size=image_size,
        num_maskmem=7,
        sigmoid_scale_for_mem_enc=20.0,
        sigmoid_bias_for_mem_enc=-10.0,
        multimask_output_in_sam=True,
        multimask_min_pt_num=0,
        multimask_max_pt_num=1,
        multimask_output_for_tracking=True,
        max_object_pointers_in_encoder=16,
        max_cond_frame_num=-1,
        enable_temporal_pos_encoding_for_object_pointers=False,  # add_tpos_enc_to_obj_ptrs: false
        enable_occlusion_spatial_embedding=False,  # no_obj_embed_spatial absent (False)
        memory_attention_rope_feat_sizes=sizes["rope_q_sizes"],
        memory_attention_rope_k_sizes=sizes["rope_k_sizes"],
    )


def build_hf_model(image_size: int = 1024):
    """``(EdgeTamVideoModel, Sam2VideoProcessor)`` for the real EdgeTAM config; CPU, fp32, eval, offline."""
    from transformers import (
        EdgeTamVideoModel,
        Sam2ImageProcessor,
        Sam2VideoProcessor,
        Sam2VideoVideoProcessor,
    )

    config = build_hf_config(image_size)
    model = EdgeTamVideoModel(config).float().eval()
    side = {"height": image_size, "width": image_size}
    low_res = 4 * (image_size // BACKBONE_STRIDE)
    processor = Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size=side, mask_size={"height": low_res, "width": low_res}),
        video_processor=Sam2VideoVideoProcessor(size=side),
        target_size=image_size,
    )
    return model, processor


# --------------------------------------------------------------------------------------------------
# Feeding the original the same pixels
# --------------------------------------------------------------------------------------------------


def jpeg_roundtrip(frames: list[np.ndarray], folder: Path) -> list[np.ndarray]:
    """Write frames as the JPEG folder the original predictor reads; return the decoded pixels, which
    every side then sees (re-encoding changes pixels, and the synthetic network is sensitive to them)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    decoded = []
    for i, frame in enumerate(frames):
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=95)
        (folder / f"{i:05d}.jpg").write_bytes(buf.getvalue())
        decoded.append(np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return decoded


def original_state(predictor, folder: Path, frames: list[np.ndarray]) -> dict:
    """The original's inference state for `frames` (the first len(frames) JPEGs of `folder`), with this
    toolkit's resized frames as its images: its own loader resizes differently (PIL, no antialias on
    uint8), and synthetic weights amplify the difference."""
    from runtime.preprocess import preprocess_frame

    state = predictor.init_state(str(folder))
    size = predictor.image_size
    state["images"] = torch.from_numpy(np.concatenate([preprocess_frame(f, size) for f in frames]))
    state["num_frames"] = len(frames)
    state["cached_features"] = {}  # init_state cached frame 0 from its own preprocessing
    return state
