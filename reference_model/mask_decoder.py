"""SAM 2 mask decoder: four mask tokens, an IoU head, an object-score head, high-res skip features.

`forward` returns every mask token's output; which mask is used (multimask or single, dynamic fallback
via stability) is chosen by `select_mask` with tensor ops only, so one traced graph serves every case.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MLP, LayerNorm2d, key_padding_bias
from .two_way_transformer import TwoWayTransformer


def upsample_2x(conv: nn.ConvTranspose2d, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """conv(x) for a 2×2, stride-2 transposed conv, channels last: x [B, h·w, C_in] → [B, 2h, 2w, C_out].

    Its output windows do not overlap, so every output pixel is one input pixel times one weight tap: a
    linear layer to the four taps' channels, then each pixel's taps moved into place, with the same
    products and sums. In onnxruntime at 1024², ConvTranspose took 14 of the decoder's 97 ms and a 1×1
    conv with DepthToSpace 24; this linear layer runs at GEMM speed, and its shuffle swaps two axes of
    contiguous 2·C_out rows (a rank-4 transpose, also for Core ML).
    """
    c_in, c_out, kh, kw = conv.weight.shape
    weight = conv.weight.permute(2, 3, 1, 0).reshape(kh * kw * c_out, c_in)  # output features (a, b, o)
    y = F.linear(x, weight, conv.bias.repeat(kh * kw))  # [B, h·w, (a, b, o)]
    y = y.reshape(-1, w, kh, kw * c_out).transpose(1, 2)  # [B·h, a, w, (b, o)]
    return y.reshape(-1, h * kh, w * kw, c_out)


class MaskDecoder(nn.Module):
    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_dim: int,
        num_multimask_outputs: int = 3,
        iou_prediction_use_sigmoid: bool = True,
        dynamic_multimask_via_stability: bool = False,
        stability_delta: float = 0.05,
        stability_thresh: float = 0.98,
    ) -> None:
        super().__init__()
        self.transformer = TwoWayTransformer(depth, dim, num_heads, mlp_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        self.obj_score_token = nn.Embedding(1, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        # Applied once per frame by the image encoder stage (as the original's forward_image does).
        self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(dim, dim, dim // 8, 3) for _ in range(self.num_mask_tokens))
        self.iou_prediction_head = MLP(dim, 256, self.num_mask_tokens, 3, sigmoid_output=iou_prediction_use_sigmoid)
        self.pred_obj_score_head = MLP(dim, dim, 1, 3)
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.stability_delta = stability_delta
        self.stability_thresh = stability_thresh

    def forward(
        self,
        image_embed: torch.Tensor,
        image_pe: torch.Tensor,
        sparse: torch.Tensor,
        sparse_valid: torch.Tensor,
        dense: torch.Tensor,
        high_res_0: torch.Tensor,
        high_res_1: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ masks [B, 4, 4h, 4w], iou [B, 4], mask-token outputs [B, 4, C], object-score logits [B, 1]."""
        b = sparse.shape[0]
        output_tokens = torch.cat([self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight])
        tokens = torch.cat([output_tokens.unsqueeze(0).expand(b, -1, -1), sparse], dim=1)
        valid = torch.cat([sparse_valid.new_ones(b, output_tokens.shape[0]), sparse_valid], dim=1)

        src = image_embed + dense
        h, w = src.shape[-2:]
        hs, src = self.transformer(src, image_pe, tokens, key_padding_bias(valid))
        iou_token_out = hs[:, 1, :]
        mask_tokens_out = hs[:, 2 : 2 + self.num_mask_tokens, :]

        # Upscaling runs channels last from the transformer's image tokens: no transposes of the 256-channel
        # map, and the layer norm normalizes the last axis as it is laid out.
        dc1, ln1, act1, dc2, act2 = self.output_upscaling
        upscaled = upsample_2x(dc1, src, h, w) + high_res_1.permute(0, 2, 3, 1)
        upscaled = act1(F.layer_norm(upscaled, ln1.weight.shape, ln1.weight, ln1.bias, ln1.eps))
        upscaled = upsample_2x(dc2, upscaled.flatten(1, 2), 2 * h, 2 * w) + high_res_0.permute(0, 2, 3, 1)
        upscaled = act2(upscaled)

        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        _, h_up, w_up, _ = upscaled.shape
        masks = (hyper_in @ upscaled.flatten(1, 2).transpose(1, 2)).reshape(b, -1, h_up, w_up)
        iou = self.iou_prediction_head(iou_token_out)
        object_score_logits = self.pred_obj_score_head(hs[:, 0, :])
        return masks, iou, mask_tokens_out, object_score_logits

    def select_mask(
        self, masks: torch.Tensor, iou: torch.Tensor, mask_tokens_out: torch.Tensor, multimask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pick one mask per object: the best-IoU multimask output where multimask [B, 1] is 1, else token 0
        (or, with dynamic multimask, the best multimask output when token 0's mask is unstable).

        → mask [B, 1, H, W], iou [B, 1], the token that becomes the object pointer [B, C].
        """
        multi_iou = iou[:, 1:]
        best = torch.argmax(multi_iou, dim=-1, keepdim=True)  # [B, 1], index into tokens 1..3
        pick_best = nn.functional.one_hot(best[:, 0] + 1, self.num_mask_tokens).to(masks.dtype)  # [B, 4]
        use_best = multimask > 0.5
        if self.dynamic_multimask_via_stability:
            use_best = use_best | ~self._is_stable(masks[:, 0])
        pick_first = nn.functional.one_hot(torch.zeros_like(best[:, 0]), self.num_mask_tokens).to(masks.dtype)
        pick = torch.where(use_best, pick_best, pick_first)  # [B, 4] one-hot
        # The pointer token follows the mask only in multimask mode: a dynamic fallback keeps token 0.
        pick_token = torch.where(multimask > 0.5, pick_best, pick_first)
        mask = (masks * pick[:, :, None, None]).sum(1, keepdim=True)
        chosen_iou = (iou * pick).sum(1, keepdim=True)
        token = (mask_tokens_out * pick_token[:, :, None]).sum(1)
        return mask, chosen_iou, token

    def _is_stable(self, logits: torch.Tensor) -> torch.Tensor:
        """[B, H, W] → [B, 1] bool: IoU between the masks thresholded at ±delta reaches the threshold."""
        flat = logits.flatten(1)
        inter = (flat > self.stability_delta).float().sum(-1, keepdim=True)
        union = (flat > -self.stability_delta).float().sum(-1, keepdim=True)
        score = torch.where(union > 0, inter / union.clamp(min=1.0), torch.ones_like(union))
        return score >= self.stability_thresh
