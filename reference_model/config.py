"""EdgeTAM's hyper-parameters, in one place.

Values are those of the original `configs/edgetam.yaml` (Zhou et al., 2025). Everything that follows
from `image_size` (feature-map sizes, RoPE tables, perceiver windows) is derived, so a smaller size
can be used for fast tests as long as the oracles are built with the same size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class EdgeTamConfig:
    image_size: int = 1024
    backbone_stride: int = 16
    hidden_dim: int = 256  # d_model of the neck, decoder and memory attention
    mem_dim: int = 64  # channels of a memory token
    backbone_channels: tuple[int, ...] = (48, 96, 192, 384)  # RepViT-M1 stages, stride 4..32
    fpn_top_down_levels: tuple[int, ...] = (2, 3)

    # memory
    num_maskmem: int = 7  # 1 conditioning slot position + 6 recent frames
    max_obj_ptrs_in_encoder: int = 16
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    # The video predictor (build_sam2_video_predictor) overrides these two and the stability fallback.
    binarize_mask_from_pts_for_mem_enc: bool = True

    # memory attention
    memory_attention_layers: int = 2
    memory_attention_ffn_dim: int = 2048
    rope_theta: float = 10000.0

    # spatial perceiver
    perceiver_depth: int = 2
    perceiver_ff_mult: int = 4
    num_latents_1d: int = 256
    num_latents_2d: int = 256

    # memory encoder
    fuser_layers: int = 2
    fuser_kernel: int = 7

    # SAM heads
    multimask_output_in_sam: bool = True
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    multimask_output_for_tracking: bool = True
    use_multimask_token_for_obj_ptr: bool = True
    iou_prediction_use_sigmoid: bool = True
    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048

    @property
    def feat_size(self) -> int:
        """Side of the stride-16 feature map (64 at 1024²)."""
        return self.image_size // self.backbone_stride

    @property
    def low_res_mask_size(self) -> int:
        """Side of the decoder's mask logits (256 at 1024²)."""
        return self.feat_size * 4

    @property
    def mem_grid(self) -> int:
        """Side of the perceiver's 2D latent grid (16 for 256 latents)."""
        side = int(round(self.num_latents_2d**0.5))
        assert side * side == self.num_latents_2d
        return side

    @property
    def mem_tokens(self) -> int:
        """Tokens per stored memory: 1D latents then 2D latents (512)."""
        return self.num_latents_1d + self.num_latents_2d

    @property
    def ptr_tokens(self) -> int:
        """Memory tokens per object pointer: a 256-d pointer is split into 64-d tokens (4)."""
        return self.hidden_dim // self.mem_dim

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> EdgeTamConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown EdgeTAM config keys: {unknown}")
        cast = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**cast)


EDGETAM = EdgeTamConfig()
