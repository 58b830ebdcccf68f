"""Key mapping between Hugging Face ``EdgeTamVideoModel`` state dicts and original EdgeTAM checkpoints.

The original (Meta) checkpoint is ``torch.save({"model": state_dict})`` with keys such as
``image_encoder.trunk.body.*`` or ``memory_attention.layers.0.self_attn.q_proj.weight``; the Hugging
Face checkpoint (``model.safetensors``) uses ``vision_encoder.backbone.timm_model.*``,
``memory_attention.layers.0.self_attn.q_proj.weight`` ... Both describe the same 13.9 M parameters.

The mapping is the declarative table ``RULES``: each rule pairs original key pattern(s) with Hugging
Face key pattern(s) and names a tensor transform. In the patterns, ``{name}`` is a placeholder matching
the regex ``PLACEHOLDERS[name]``; everything else is literal. Tensor transforms:

* ``rename``: one key on each side, same tensor.
* ``split_halves``: the original's fused perceiver ``to_kv`` (rows ``[k; v]``) <-> HF ``k_proj`` and
  ``v_proj`` (``torch.chunk(2, dim=0)`` / ``torch.cat(dim=0)``).
* ``stack_rows``: the original's four ``point_embeddings.{0..3}.weight`` (1 x C each) <-> HF
  ``point_embed.weight`` (4 x C).
* ``duplicate``: the original's single random-Fourier matrix <-> HF's two copies of it (prompt encoder
  and image-wide positional embedding); HF -> original requires both copies to be equal.

Non-learned HF buffers that the original does not store (RoPE tables and position ids, whether or not
a given transformers version persists them) are dropped by ``hf_to_original`` (``HF_DERIVED_BUFFERS``).
Keys that no rule covers raise ``KeyError`` listing them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

StateDict = dict[str, torch.Tensor]

PLACEHOLDERS: dict[str, str] = {
    "i": r"\d+",  # layer / block index
    "qkv": r"q|k|v",
    "wb": r"weight|bias",
    "attn": r"self_attn|cross_attn_token_to_image|cross_attn_image_to_token|final_attn_token_to_image",
    "ma_attn": r"self_attn|cross_attn_image",
    "n": r"[1-4]",  # numbered norms
    "k": r"1|2",  # pointwise conv number
    "k0": r"0|1",  # high-res feature projection number
    "token": r"iou_token|mask_tokens|obj_score_token",
    "head": r"output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head",
    "rest": r".+",
}


@dataclass(frozen=True)
class Rule:
    original: tuple[str, ...]
    hf: tuple[str, ...]
    transform: str = "rename"


def _as_tuple(patterns: str | tuple[str, ...]) -> tuple[str, ...]:
    return (patterns,) if isinstance(patterns, str) else tuple(patterns)


def _r(original: str | tuple[str, ...], hf: str | tuple[str, ...], transform: str = "rename") -> Rule:
    return Rule(_as_tuple(original), _as_tuple(hf), transform)


# common prefixes (original, HF)
_MA = "memory_attention.layers.{i}"
_MDS = "memory_encoder.mask_downsampler"  # same prefix on both sides
_FU, _HFU = "memory_encoder.fuser.layers.{i}", "memory_encoder.memory_fuser.layers.{i}"
_SP = "spatial_perceiver.layers.{i}"
_PE, _HPE = "sam_prompt_encoder", "prompt_encoder"
_MD, _HMD = "sam_mask_decoder", "mask_decoder"
_TL, _HTL = "sam_mask_decoder.transformer.layers.{i}", "mask_decoder.transformer.layers.{i}"

RULES: tuple[Rule, ...] = (
    # --- top-level learned tensors (same shapes on both sides) ---
    _r("maskmem_tpos_enc", "memory_temporal_positional_encoding"),
    _r("no_mem_embed", "no_memory_embedding"),
    _r("no_mem_pos_enc", "no_memory_positional_encoding"),
    _r("no_obj_ptr", "no_object_pointer"),
    _r("no_obj_embed_spatial", "occlusion_spatial_embedding_parameter"),  # absent in EdgeTAM
    _r("obj_ptr_tpos_proj.{wb}", "temporal_positional_encoding_projection_layer.{wb}"),  # absent in EdgeTAM
    _r("mask_downsample.{wb}", "mask_downsample.{wb}"),
    _r("obj_ptr_proj.layers.0.{wb}", "object_pointer_proj.proj_in.{wb}"),
    _r("obj_ptr_proj.layers.1.{wb}", "object_pointer_proj.layers.0.{wb}"),
    _r("obj_ptr_proj.layers.2.{wb}", "object_pointer_proj.proj_out.{wb}"),
    # --- image encoder: timm RepViT trunk + FPN neck ---
    _r("image_encoder.trunk.body.{rest}", "vision_encoder.backbone.timm_model.{rest}"),
    _r("image_encoder.neck.convs.{i}.conv.{wb}", "vision_encoder.neck.convs.{i}.{wb}"),
    # --- memory attention ---
    _r(f"{_MA}.{{ma_attn}}.{{qkv}}_proj.{{wb}}", f"{_MA}.{{ma_attn}}.{{qkv}}_proj.{{wb}}"),
    _r(f"{_MA}.{{ma_attn}}.out_proj.{{wb}}", f"{_MA}.{{ma_attn}}.o_proj.{{wb}}"),
    _r(f"{_MA}.linear1.{{wb}}", f"{_MA}.mlp.up_proj.{{wb}}"),
    _r(f"{_MA}.linear2.{{wb}}", f"{_MA}.mlp.down_proj.{{wb}}"),
    _r(f"{_MA}.norm{{n}}.{{wb}}", f"{_MA}.layer_norm{{n}}.{{wb}}"),
    _r("memory_attention.norm.{wb}", "memory_attention.layer_norm.{wb}"),
    # --- memory encoder (Sequential indices 3k / 3k+1 -> layers.k.conv / .layer_norm; 12 -> final_conv) ---
    *(
        _r(f"{_MDS}.encoder.{3 * k + j}.{{wb}}", f"{_MDS}.layers.{k}.{part}.{{wb}}")
        for k in range(4)
        for j, part in ((0, "conv"), (1, "layer_norm"))
    ),
    _r(f"{_MDS}.encoder.12.{{wb}}", f"{_MDS}.final_conv.{{wb}}"),
    _r("memory_encoder.pix_feat_proj.{wb}", "memory_encoder.feature_projection.{wb}"),
    _r(f"{_FU}.gamma", f"{_HFU}.scale"),
    _r(f"{_FU}.dwconv.{{wb}}", f"{_HFU}.depthwise_conv.{{wb}}"),
    _r(f"{_FU}.norm.{{wb}}", f"{_HFU}.layer_norm.{{wb}}"),
    _r(f"{_FU}.pwconv{{k}}.{{wb}}", f"{_HFU}.pointwise_conv{{k}}.{{wb}}"),
    _r("memory_encoder.out_proj.{wb}", "memory_encoder.projection.{wb}"),
    # --- spatial perceiver (fused k/v projections split in two) ---
    _r("spatial_perceiver.latents", "spatial_perceiver.latents_1d"),
    _r("spatial_perceiver.latents_2d", "spatial_perceiver.latents_2d"),
    _r("spatial_perceiver.norm.{wb}", "spatial_perceiver.layer_norm.{wb}"),
    _r(f"{_SP}.attn.norm_x.{{wb}}", f"{_SP}.layer_norm_input.{{wb}}"),
    _r(f"{_SP}.attn.norm_latents.{{wb}}", f"{_SP}.layer_norm_latents.{{wb}}"),
    _r(f"{_SP}.self_attn.norm.{{wb}}", f"{_SP}.layer_norm_self.{{wb}}"),
    *(
        rule
        for attn, hf_attn in (("attn", "cross_attention"), ("self_attn", "self_attention"))
        for rule in (
            _r(f"{_SP}.{attn}.to_q.weight", f"{_SP}.{hf_attn}.q_proj.weight"),
            _r(
                f"{_SP}.{attn}.to_kv.weight",
                (f"{_SP}.{hf_attn}.k_proj.weight", f"{_SP}.{hf_attn}.v_proj.weight"),
                "split_halves",
            ),
            _r(f"{_SP}.{attn}.to_out.weight", f"{_SP}.{hf_attn}.o_proj.weight"),
        )
    ),
    *(
        _r(f"{_SP}.{ff}.{idx}.{suffix}", f"{_SP}.{mlp}.{name}.{suffix}")
        for ff, mlp in (("ff", "mlp"), ("self_ff", "self_mlp"))
        for idx, name, suffix in (
            (0, "layer_norm", "{wb}"),
            (1, "up_proj", "weight"),
            (3, "down_proj", "weight"),
        )
    ),
    # --- prompt encoder ---
    _r(
        f"{_PE}.pe_layer.positional_encoding_gaussian_matrix",
        (f"{_HPE}.shared_embedding.positional_embedding", "shared_image_embedding.positional_embedding"),
        "duplicate",
    ),
    _r(
        tuple(f"{_PE}.point_embeddings.{k}.weight" for k in range(4)),
        f"{_HPE}.point_embed.weight",
        "stack_rows",
    ),
    _r(f"{_PE}.not_a_point_embed.weight", f"{_HPE}.not_a_point_embed.weight"),
    _r(f"{_PE}.no_mask_embed.weight", f"{_HPE}.no_mask_embed.weight"),
    *(
        _r(f"{_PE}.mask_downscaling.{idx}.{{wb}}", f"{_HPE}.mask_embed.{name}.{{wb}}")
        for idx, name in ((0, "conv1"), (1, "layer_norm1"), (3, "conv2"), (4, "layer_norm2"), (6, "conv3"))
    ),
    # --- SAM mask decoder: two-way transformer ---
    _r(f"{_TL}.{{attn}}.{{qkv}}_proj.{{wb}}", f"{_HTL}.{{attn}}.{{qkv}}_proj.{{wb}}"),
    _r(f"{_TL}.{{attn}}.out_proj.{{wb}}", f"{_HTL}.{{attn}}.o_proj.{{wb}}"),
    _r(f"{_TL}.norm{{n}}.{{wb}}", f"{_HTL}.layer_norm{{n}}.{{wb}}"),
    _r(f"{_TL}.mlp.layers.0.{{wb}}", f"{_HTL}.mlp.proj_in.{{wb}}"),
    _r(f"{_TL}.mlp.layers.1.{{wb}}", f"{_HTL}.mlp.proj_out.{{wb}}"),
    _r(f"{_MD}.transformer.{{attn}}.{{qkv}}_proj.{{wb}}", f"{_HMD}.transformer.{{attn}}.{{qkv}}_proj.{{wb}}"),
    _r(f"{_MD}.transformer.{{attn}}.out_proj.{{wb}}", f"{_HMD}.transformer.{{attn}}.o_proj.{{wb}}"),
    _r(f"{_MD}.transformer.norm_final_attn.{{wb}}", f"{_HMD}.transformer.layer_norm_final_attn.{{wb}}"),
    # --- SAM mask decoder: tokens, upscaling, high-res projections, heads ---
    _r(f"{_MD}.{{token}}.weight", f"{_HMD}.{{token}}.weight"),
    _r(f"{_MD}.output_upscaling.0.{{wb}}", f"{_HMD}.upscale_conv1.{{wb}}"),
    _r(f"{_MD}.output_upscaling.1.{{wb}}", f"{_HMD}.upscale_layer_norm.{{wb}}"),
    _r(f"{_MD}.output_upscaling.3.{{wb}}", f"{_HMD}.upscale_conv2.{{wb}}"),
    _r(f"{_MD}.conv_s{{k0}}.{{wb}}", f"{_HMD}.conv_s{{k0}}.{{wb}}"),
    # 3-layer MLP heads: layers.0 -> proj_in, layers.1 -> layers.0, layers.2 -> proj_out
    _r(f"{_MD}.{{head}}.layers.0.{{wb}}", f"{_HMD}.{{head}}.proj_in.{{wb}}"),
    _r(f"{_MD}.{{head}}.layers.1.{{wb}}", f"{_HMD}.{{head}}.layers.0.{{wb}}"),
    _r(f"{_MD}.{{head}}.layers.2.{{wb}}", f"{_HMD}.{{head}}.proj_out.{{wb}}"),
)

# HF buffers derived from the config (not learned, absent from original checkpoints): dropped by
# hf_to_original. Current transformers keeps them non-persistent; other versions may save them.
HF_DERIVED_BUFFERS: tuple[str, ...] = (
    r"memory_attention\.rotary_emb\.(inv_freq|original_inv_freq)",
    r"memory_attention\.position_ids(_k)?",
    r"memory_attention\.layers\.\d+\.(self_attn|cross_attn_image)\.rotary_emb\.\w+",
    r"memory_attention\.layers\.\d+\.(self_attn|cross_attn_image)\.freqs_cis(_q|_k)?",
)


# ------------------------------------------------------------------------------------------------
# tensor transforms: (forward original -> HF, inverse HF -> original)
# ------------------------------------------------------------------------------------------------


class FourierCopiesDiffer(ValueError):
    """An HF state dict whose two copies of the random-Fourier matrix differ (see `_same_copies`)."""


def _same_copies(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    first = tensors[0]
    if any(not torch.equal(first, other) for other in tensors[1:]):
        raise FourierCopiesDiffer(
            "its two copies of the random-Fourier position matrix (shared_image_embedding.positional_embedding "
            "and prompt_encoder.shared_embedding.positional_embedding) differ. EdgeTAM has one such matrix, and "
            "a checkpoint converted from the original holds it in both; differing copies come from "
            "save_pretrained of a freshly initialised (untrained) transformers model, which is not EdgeTAM's "
            "weights. Convert the released checkpoint instead (or, for a test model, copy one matrix into the "
            "other before saving)"
        )
    return [first]


_TRANSFORMS: dict[str, tuple[Callable[[list[torch.Tensor]], list[torch.Tensor]], ...]] = {
    "rename": (lambda ts: ts, lambda ts: ts),
    "split_halves": (
        lambda ts: [t.clone() for t in ts[0].chunk(2, dim=0)],
        lambda ts: [torch.cat(ts, dim=0)],
    ),
    "stack_rows": (lambda ts: [torch.cat(ts, dim=0)], lambda ts: [t.clone() for t in ts[0].split(1, dim=0)]),
    "duplicate": (lambda ts: [ts[0], ts[0].clone()], _same_copies),
}


def _compile(pattern: str) -> re.Pattern[str]:
    """``"a.{i}.b"`` -> ``re.compile(r"a\\.(?P<i>\\d+)\\.b")``."""
    parts, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", pattern):
        parts += [re.escape(pattern[pos : m.start()]), f"(?P<{m.group(1)}>{PLACEHOLDERS[m.group(1)]})"]
        pos = m.end()
    return re.compile("".join(parts) + re.escape(pattern[pos:]))


_SIDES = ("original", "hf")
_COMPILED: list[dict[str, list[re.Pattern[str]]]] = [
    {side: [_compile(p) for p in getattr(rule, side)] for side in _SIDES} for rule in RULES
]
_DERIVED = [re.compile(p) for p in HF_DERIVED_BUFFERS]


def _match(key: str, src: str) -> tuple[int, int, dict[str, str]] | None:
    """First rule (index, source slot, placeholder values) whose ``src``-side pattern matches ``key``."""
    for rule_idx, patterns in enumerate(_COMPILED):
        for slot, pattern in enumerate(patterns[src]):
            if (m := pattern.fullmatch(key)) is not None:
                return rule_idx, slot, m.groupdict()
    return None


def _convert(state_dict: StateDict, src: str, dst: str, drop: list[re.Pattern[str]]) -> StateDict:
    # group source tensors by (rule, placeholder values): one group = one application of a rule
    groups: dict[tuple[int, tuple[tuple[str, str], ...]], dict[int, torch.Tensor]] = {}
    unknown = []
    for key, tensor in state_dict.items():
        hit = _match(key, src)
        if hit is None:
            if not any(p.fullmatch(key) for p in drop):
                unknown.append(key)
            continue
        rule_idx, slot, values = hit
        groups.setdefault((rule_idx, tuple(sorted(values.items()))), {})[slot] = tensor
    if unknown:
        raise KeyError(f"{len(unknown)} unmapped key(s): {', '.join(sorted(unknown))}")

    out: StateDict = {}
    incomplete = []
    for (rule_idx, items), slots in groups.items():
        rule, values = RULES[rule_idx], dict(items)
        src_patterns, dst_patterns = getattr(rule, src), getattr(rule, dst)
        if len(slots) < len(src_patterns):
            incomplete += [p.format(**values) for i, p in enumerate(src_patterns) if i not in slots]
            continue
        forward, inverse = _TRANSFORMS[rule.transform]
        tensors = (forward if src == "original" else inverse)([slots[i] for i in range(len(src_patterns))])
        out.update((p.format(**values), t) for p, t in zip(dst_patterns, tensors, strict=True))
    if incomplete:
        raise KeyError(f"{len(incomplete)} missing companion key(s): {', '.join(sorted(incomplete))}")
    return out


def original_to_hf(state_dict: StateDict) -> StateDict:
    """Original checkpoint names (``torch.load(path)["model"]``) -> HF ``EdgeTamVideoModel`` names."""
    return _convert(state_dict, "original", "hf", drop=[])


def hf_to_original(state_dict: StateDict) -> StateDict:
    """HF ``EdgeTamVideoModel`` names -> original checkpoint names; drops ``HF_DERIVED_BUFFERS``."""
    return _convert(state_dict, "hf", "original", drop=_DERIVED)
