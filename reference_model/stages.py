"""The graphs that ship: stateless, fixed-shape stage modules built from one `EdgeTAM`.

Each stage is what one exported file computes. Variable-length memory arrives as padded slots plus
validity masks; per-call choices (multimask, mask prompt, first frame) arrive as 0/1 tensors; nothing
branches in Python on tensor values, so every stage traces unchanged to ONNX and Core ML. Constants that
follow from weights or shapes (position encodings, RoPE tables, temporal encodings, the no-memory
embedding) live inside the stages: a runtime needs no weights.

Why five stages and not four: the original turns a mask prompt into a decoder input with a learned
4×4 stride-4 conv on the full-resolution mask. Feeding a full-resolution mask to every decoder call
would cost 4 MB per object per frame, so that conv is its own tiny stage, run only on mask prompts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import key_padding_bias
from .backbone import RepDepthwiseMixer
from .edgetam import EdgeTAM
from .position_encoding import SineGrid
from .rope import AxialRopeTables, apply_rope

# The original writes this score into the masks of objects judged absent (it is also sigmoid ≈ 0).
NO_OBJ_SCORE = -1024.0


def compose_1x1(outer: nn.Conv2d, inner: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of the single 1×1 conv equal to outer(inner(x)) (both 1×1, nothing between)."""
    w_outer, w_inner = outer.weight.flatten(1), inner.weight.flatten(1)
    weight = (w_outer @ w_inner)[:, :, None, None]
    return weight, (w_outer @ inner.bias[:, None])[:, 0] + outer.bias  # matrix products only (Core ML)


class ImageEncoderStage(nn.Module):
    """image [1, 3, S, S] (normalized) → vision_feats [1, C, S/16, S/16], high_res_0, high_res_1.

    The RepViT token mixers run re-parameterized (one depthwise conv each). The decoder's high-resolution
    inputs are its 1×1 convs applied to the neck's 1×1 lateral projections of the stride-4 and stride-8
    backbone maps (no top-down fusion there). Two 1×1 convs in a row are one 1×1 conv: composing them
    (folded into a constant at export) skips 256-channel maps at stride 4 and 8, 3.6 of the stage's
    38.7 GFLOP at 1024².
    """

    def __init__(self, model: EdgeTAM) -> None:
        super().__init__()
        self.trunk = model.image_encoder.trunk
        self.neck = model.image_encoder.neck
        self.conv_s0 = model.sam_mask_decoder.conv_s0
        self.conv_s1 = model.sam_mask_decoder.conv_s1
        if {0, 1} & set(self.neck.top_down_levels):
            raise ValueError("composing the high-resolution convs needs levels 0 and 1 without top-down fusion")
        for module in self.trunk.modules():
            if isinstance(module, RepDepthwiseMixer):
                module.reparameterized = True  # same function, 23 fewer convs (see RepDepthwiseMixer)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.trunk.body(image)
        (vision_feats,) = self.neck.levels(features, range(2, 3))
        high_res = [
            F.conv2d(features[level], *compose_1x1(conv, self.neck.lateral(level)))
            for level, conv in ((0, self.conv_s0), (1, self.conv_s1))
        ]
        return vision_feats, high_res[0], high_res[1]


class MemoryAttentionStage(nn.Module):
    """Conditions one frame's features on an object's memory bank.

    Inputs: vision_feats [1, C, h, w]; cond_mem [B, K, T, m] (conditioning-frame memories) with
    cond_valid [B, K]; recent_mem [B, R, T, m] with recent_valid [B, R], slot j holding the memory from
    R − j frames before (after, in reverse) the current one; obj_ptrs [B, N, C] with ptr_valid [B, N].
    Output: pix_feat_with_mem [B, C, h, w].
    """

    def __init__(self, model: EdgeTAM) -> None:
        super().__init__()
        cfg = model.cfg
        self.memory_attention = model.memory_attention
        self.recent_slots = cfg.num_maskmem - 1
        self.ptr_tokens = cfg.ptr_tokens
        side, c, m = cfg.feat_size, cfg.hidden_dim, cfg.mem_dim
        # Position and RoPE tables of the 64×64 frame grid and the 16×16 memory grid are kept per axis and
        # expanded in the graph (see rope.grid_table): memory attention's file shrinks by 13 MB at 1024².
        self.curr_pos = SineGrid(side, side, c)

        self.num_maskmem = cfg.num_maskmem
        self.mem_dim = m
        self.maskmem_tpos_enc = model.maskmem_tpos_enc
        self.register_buffer("token_pos", model.spatial_perceiver.token_pos().detach())

        dim = c  # rotations act on the projected (C-wide) queries and keys
        self.q_rope = AxialRopeTables(dim, side, side, cfg.rope_theta)
        g = cfg.mem_grid  # one memory's tokens: unrotated global latents, then the 2D latents' grid
        self.mem_rope = AxialRopeTables(dim, g, g, cfg.rope_theta, identity_tokens=cfg.num_latents_1d)

    def forward(
        self,
        vision_feats: torch.Tensor,
        cond_mem: torch.Tensor,
        cond_valid: torch.Tensor,
        recent_mem: torch.Tensor,
        recent_valid: torch.Tensor,
        obj_ptrs: torch.Tensor,
        ptr_valid: torch.Tensor,
    ) -> torch.Tensor:
        b, k, t, m = cond_mem.shape
        n = obj_ptrs.shape[1]
        _, c, h, w = vision_feats.shape
        x = vision_feats.flatten(2).transpose(1, 2)  # [1, HW, C]: shared by the objects until they meet memory

        ptr_tok = obj_ptrs.reshape(b, n * self.ptr_tokens, m)  # each pointer split into C/m tokens
        memory = torch.cat([cond_mem.reshape(b, k * t, m), recent_mem.reshape(b, -1, m), ptr_tok], dim=1)
        # A stored memory's token position is the perceiver's token encoding plus its slot's temporal
        # encoding: t_pos 0 for conditioning slots, t_pos j + 1 for recent slot j.
        tpos = self.maskmem_tpos_enc.reshape(self.num_maskmem, m)
        recent_tpos = tpos[: self.num_maskmem - 1].flip(0)  # slot j ↔ tpos[num_maskmem - 2 - j]
        pos = torch.cat(
            [
                (self.token_pos + tpos[self.num_maskmem - 1]).repeat(k, 1),
                (self.token_pos[None] + recent_tpos[:, None, :]).reshape(-1, m),
                torch.zeros_like(ptr_tok[0]),  # EdgeTAM adds no temporal encoding to pointers
            ]
        )
        valid = torch.cat(
            [
                cond_valid.repeat_interleave(t, dim=1),
                recent_valid.repeat_interleave(t, dim=1),
                ptr_valid.repeat_interleave(self.ptr_tokens, dim=1),
            ],
            dim=1,
        )
        spatial_tokens = (k + self.recent_slots) * t
        mem_cos, mem_sin = self.mem_rope()

        def rotate_memory_keys(keys: torch.Tensor) -> torch.Tensor:
            """Every memory slot rotated by the same per-memory table (broadcast, never tiled, so the
            graphs hold one 512-token table); pointer tokens stay unrotated."""
            spatial = keys[:, :, :spatial_tokens]
            # [B·heads, slots, T, d]: rank ≤ 5 through the rotation (Core ML), no traced batch constant (ONNX).
            slots = spatial.flatten(0, 1).unflatten(1, (-1, t))
            slots = apply_rope(slots, mem_cos, mem_sin).flatten(1, 2).reshape(spatial.shape)
            return torch.cat([slots, keys[:, :, spatial_tokens:]], dim=2)

        out = self.memory_attention(
            x,
            self.curr_pos.tokens()[None],
            memory,
            pos[None],
            key_padding_bias(valid),
            self.q_rope(),
            rotate_memory_keys,
        )
        return out.transpose(1, 2).reshape(b, c, h, w)


class MaskDecoderStage(nn.Module):
    """Prompt encoder + mask decoder + object pointer, for every way the original calls its SAM heads.

    Inputs: image_embed [B, C, h, w] (memory-conditioned features, or raw features for a first frame or
    mask prompt); high_res_0 [1, C/8, 4h, 4w]; high_res_1 [1, C/4, 2h, 2w]; point_coords [B, P, 2] in
    model-input pixels; point_labels [B, P] (1 positive, 0 negative, 2/3 box corners, -1 empty slot);
    mask_input [B, 1, 4h, 4w] logits; and 0/1 switches [B, 1]: use_mask_input, multimask, no_memory (adds
    the no-memory embedding: a first frame decoded without memory) and object_absent (forces the
    no-object pointer: an empty mask prompt).
    Outputs: low_res_masks [B, 1, 4h, 4w], iou [B, 1], object_score_logits [B, 1], obj_ptr [B, C].
    """

    def __init__(self, model: EdgeTAM) -> None:
        super().__init__()
        self.prompt_encoder = model.sam_prompt_encoder
        self.decoder = model.sam_mask_decoder
        self.obj_ptr_proj = model.obj_ptr_proj
        self.no_mem_embed = model.no_mem_embed
        self.no_obj_ptr = model.no_obj_ptr

    def forward(
        self,
        image_embed: torch.Tensor,
        high_res_0: torch.Tensor,
        high_res_1: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        use_mask_input: torch.Tensor,
        multimask: torch.Tensor,
        no_memory: torch.Tensor,
        object_absent: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        image_embed = image_embed + no_memory[:, :, None, None] * self.no_mem_embed.reshape(1, -1, 1, 1)
        sparse, sparse_valid = self.prompt_encoder.embed_points(point_coords, point_labels)
        dense = self.prompt_encoder.embed_mask(mask_input, use_mask_input)
        masks, iou, tokens, score = self.decoder(
            image_embed, self.prompt_encoder.dense_pe(), sparse, sparse_valid, dense, high_res_0, high_res_1
        )
        mask, iou, token = self.decoder.select_mask(masks, iou, tokens, multimask)
        present = score > 0
        mask = torch.where(present[:, :, None, None], mask, torch.full_like(mask, NO_OBJ_SCORE))
        keep = (present & (object_absent < 0.5)).to(token.dtype)
        obj_ptr = keep * self.obj_ptr_proj(token) + (1 - keep) * self.no_obj_ptr
        return mask, iou, score, obj_ptr


class MemoryEncoderStage(nn.Module):
    """Encodes a frame's prediction into the tokens the bank stores.

    Inputs: vision_feats [1, C, h, w] (raw image features), low_res_masks [B, 1, 4h, 4w] logits,
    is_prompted [B, 1]: 1 for a frame the user prompted, whose mask is binarized instead of squashed
    by a sigmoid (the video predictor's binarize_mask_from_pts_for_mem_enc).
    Output: mem_feats [B, T, m] (T = 512 for EdgeTAM: 256 global then 256 2D latents).
    """

    def __init__(self, model: EdgeTAM) -> None:
        super().__init__()
        cfg = model.cfg
        self.memory_encoder = model.memory_encoder
        self.perceiver = model.spatial_perceiver
        self.image_size = cfg.image_size
        self.scale, self.bias = cfg.sigmoid_scale_for_mem_enc, cfg.sigmoid_bias_for_mem_enc
        self.binarize_prompted = cfg.binarize_mask_from_pts_for_mem_enc
        self.mem_map_pos = SineGrid(cfg.feat_size, cfg.feat_size, cfg.mem_dim)  # expanded in the graph

    def forward(
        self, vision_feats: torch.Tensor, low_res_masks: torch.Tensor, is_prompted: torch.Tensor
    ) -> torch.Tensor:
        b = low_res_masks.shape[0]
        high_res = F.interpolate(
            low_res_masks, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
        )
        prob = torch.sigmoid(high_res)
        if self.binarize_prompted:
            binary = (high_res > 0).to(high_res.dtype)
            prompted = is_prompted[:, :, None, None]
            # An exact 0/1 blend: a Where with a per-object condition broadcast over the 1024² map took
            # onnxruntime 3.9 ms, the products and sum 2.
            prob = prompted * binary + (1 - prompted) * prob
        mask_for_mem = prob * self.scale + self.bias
        feats = self.memory_encoder(vision_feats, mask_for_mem)  # image features projected once, broadcast
        return self.perceiver(feats, self.mem_map_pos.channels_first()[None].expand(b, -1, -1, -1))


class MaskPromptStage(nn.Module):
    """mask [B, 1, S, S] (0/1 at model-input size) → mask_input [B, 1, S/4, S/4] for the decoder."""

    def __init__(self, model: EdgeTAM) -> None:
        super().__init__()
        self.mask_downsample = model.mask_downsample

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        return self.mask_downsample(mask)


class Stages(nn.Module):
    """All stage modules of one model, sharing its weights."""

    def __init__(self, model: EdgeTAM) -> None:
        super().__init__()
        self.cfg = model.cfg
        self.image_encoder = ImageEncoderStage(model)
        self.memory_attention = MemoryAttentionStage(model)
        self.mask_decoder = MaskDecoderStage(model)
        self.memory_encoder = MemoryEncoderStage(model)
        self.mask_prompt = MaskPromptStage(model)
