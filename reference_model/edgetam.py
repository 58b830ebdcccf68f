"""EdgeTAM's learned modules, assembled under the original checkpoint's names.

This module only holds the weights; what runs per frame is defined by the stage modules in
`stages.py`. Module and parameter names equal the original `edgetam.pt` keys, so that checkpoint
loads by name; `hf_keys.py` maps the Hugging Face names onto these.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import MLP
from .backbone import RepViTBackbone
from .config import EDGETAM, EdgeTamConfig
from .mask_decoder import MaskDecoder
from .memory_attention import MemoryAttention
from .memory_encoder import MemoryEncoder
from .neck import FpnNeck
from .perceiver import SpatialPerceiver
from .prompt_encoder import PromptEncoder


class Trunk(nn.Module):
    """Holds the backbone under `trunk.body`, as the original's timm wrapper does."""

    def __init__(self) -> None:
        super().__init__()
        self.body = RepViTBackbone()


class ImageEncoder(nn.Module):
    def __init__(self, cfg: EdgeTamConfig) -> None:
        super().__init__()
        self.trunk = Trunk()
        self.neck = FpnNeck(cfg.backbone_channels, cfg.hidden_dim, cfg.fpn_top_down_levels)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """image [B, 3, S, S] normalized → neck maps at strides 4, 8, 16 (the stride-32 map is dropped)."""
        return self.neck(self.trunk.body(image))[:-1]


class EdgeTAM(nn.Module):
    def __init__(self, cfg: EdgeTamConfig = EDGETAM) -> None:
        super().__init__()
        self.cfg = cfg
        c, m = cfg.hidden_dim, cfg.mem_dim
        self.image_encoder = ImageEncoder(cfg)
        self.memory_attention = MemoryAttention(
            c, m, cfg.memory_attention_ffn_dim, cfg.memory_attention_layers, query_tokens=cfg.feat_size**2
        )
        self.memory_encoder = MemoryEncoder(c, m, cfg.fuser_layers, cfg.fuser_kernel)
        self.spatial_perceiver = SpatialPerceiver(
            m, cfg.perceiver_depth, cfg.num_latents_1d, cfg.num_latents_2d, cfg.perceiver_ff_mult
        )
        self.sam_prompt_encoder = PromptEncoder(c, cfg.feat_size, cfg.image_size)
        self.sam_mask_decoder = MaskDecoder(
            c,
            cfg.decoder_depth,
            cfg.decoder_heads,
            cfg.decoder_mlp_dim,
            iou_prediction_use_sigmoid=cfg.iou_prediction_use_sigmoid,
            dynamic_multimask_via_stability=cfg.dynamic_multimask_via_stability,
            stability_delta=cfg.dynamic_multimask_stability_delta,
            stability_thresh=cfg.dynamic_multimask_stability_thresh,
        )
        self.obj_ptr_proj = MLP(c, c, c, 3)
        # Turns a full-resolution binary mask prompt into decoder mask-input logits (stride 4).
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(cfg.num_maskmem, 1, 1, m))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, c))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, c))  # unused when no_mem_embed is added directly
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, c))
