"""The speed rewrites in reference_model compute the same function as the plain formulation they replace.

Each is checked against the textbook torch op on order-one inputs, including shapes where the rewrite's
special path (chunks, padded keys, few channels) is actually taken.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reference_model.attention import (
    Attention,
    LayerNorm2d,
    attend,
    attend_biased_keys,
    float16_safe,
    fused_attention,
    key_padding_bias,
    keys_with_bias,
)
from reference_model.mask_decoder import upsample_2x
from reference_model.memory_attention import MemoryAttentionLayer
from reference_model.rope import axial_rope_angles, rope_tables


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_upsample_2x_is_the_transposed_conv() -> None:
    conv = nn.ConvTranspose2d(16, 8, kernel_size=2, stride=2)
    x = torch.randn(3, 16, 5, 7)
    got = upsample_2x(conv, x.flatten(2).transpose(1, 2), 5, 7).permute(0, 3, 1, 2)
    torch.testing.assert_close(got, conv(x), rtol=0, atol=1e-6)


def test_biased_keys_match_an_additive_mask() -> None:
    q, k, v = torch.randn(2, 3, 40, 16), torch.randn(2, 3, 50, 16), torch.randn(2, 3, 50, 16)
    valid = (torch.rand(2, 50) > 0.3).float()
    bias = key_padding_bias(valid)
    got = attend_biased_keys(q, keys_with_bias(k, bias), v)
    torch.testing.assert_close(got, attend(q, k, v, bias), rtol=1e-5, atol=1e-6)
    # Padded keys weigh nothing: the same as dropping them.
    keep = valid[0].bool()
    dropped = attend(q[:1], k[:1, :, keep], v[:1, :, keep])
    torch.testing.assert_close(got[:1], dropped, rtol=1e-5, atol=1e-6)


def test_memory_attention_layer_chunks_give_the_same_result() -> None:
    dim, mem_dim, side, tokens = 32, 16, 8, 70
    whole = MemoryAttentionLayer(dim, mem_dim, 64, query_chunk=None).eval()
    chunked = copy.deepcopy(whole)
    chunked.query_chunk = chunked.self_attn.query_chunk = 24  # 64 queries: chunks of 24, 24 and 16
    x, memory, pos = torch.randn(1, side * side, dim), torch.randn(2, tokens, mem_dim), torch.randn(2, tokens, mem_dim)
    bias = key_padding_bias((torch.rand(2, tokens) > 0.2).float())
    rope = rope_tables(axial_rope_angles(dim, side, side))
    with torch.no_grad():
        ref = whole(x, memory, pos, bias, rope, lambda k: k)
        got = chunked(x, memory, pos, bias, rope, lambda k: k)
    assert got.shape == (2, side * side, dim)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_fused_attention_path_gives_the_same_result() -> None:
    """As exported for onnxruntime's fused kernel (all queries in one call, the objects' shared queries
    expanded to their batch, the key bias as a key channel with scale 1), memory attention computes what the
    standard path computes; only one-head attention switches, and only inside the context."""
    dim, mem_dim, side, tokens = 32, 16, 8, 70
    layer = MemoryAttentionLayer(dim, mem_dim, 64, query_chunk=24).eval()
    x, memory, pos = torch.randn(1, side * side, dim), torch.randn(3, tokens, mem_dim), torch.randn(3, tokens, mem_dim)
    bias = key_padding_bias((torch.rand(3, tokens) > 0.2).float())
    rope = rope_tables(axial_rope_angles(dim, side, side))
    heads = Attention(dim, num_heads=4)
    q, k, k_bias = torch.randn(3, 20, dim), torch.randn(3, 30, mem_dim), key_padding_bias(torch.rand(1, 30).round())
    with torch.no_grad():
        ref = layer(x, memory, pos, bias, rope, lambda k: k)
        ref_one_head = layer.cross_attn_image(q, k, k, k_bias)  # one bias for all objects (broadcast)
        with fused_attention(torch.nn.ModuleList([layer, heads])):
            assert layer.self_attn.fused and layer.cross_attn_image.fused and not heads.fused
            got = layer(x, memory, pos, bias, rope, lambda k: k)
            got_one_head = layer.cross_attn_image(q, k, k, k_bias)
    assert not layer.self_attn.fused and not layer.cross_attn_image.fused
    assert got.shape == (3, side * side, dim)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_one_head, ref_one_head, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels", [4, 16, 64])
def test_layer_norm_2d_is_a_channel_layer_norm(channels: int) -> None:
    norm = LayerNorm2d(channels)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    x = 3 * torch.randn(2, channels, 9, 11) + 1
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (channels,), norm.weight, norm.bias, norm.eps).permute(0, 3, 1, 2)
    with torch.no_grad():
        torch.testing.assert_close(norm(x), ref, rtol=1e-5, atol=1e-5)
        with float16_safe(norm):
            assert norm.overflow_safe
            torch.testing.assert_close(norm(x), ref, rtol=1e-5, atol=1e-5)
        assert not norm.overflow_safe  # restored after the export


def test_float16_safe_layer_norm_is_right_where_the_plain_one_overflows() -> None:
    norm = LayerNorm2d(4).half()
    x = torch.tensor([600.0, -600.0, 300.0, 0.0]).reshape(1, 4, 1, 1).half()  # (x − mean)² > 65504
    ref = F.layer_norm(x.float().reshape(1, 4), (4,), eps=norm.eps).reshape(1, 4, 1, 1)
    with torch.no_grad():
        plain = norm(x).float()
        with float16_safe(norm):
            safe = norm(x).float()
    assert not torch.allclose(plain, ref, atol=0.1)  # the variance overflowed: everything became 0
    torch.testing.assert_close(safe, ref, rtol=1e-2, atol=1e-2)
