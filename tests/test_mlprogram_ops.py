"""The ML Program interpreter's ops against independent computations: torch functional ops, and
coremltools' own decompression for the compressed-weight ops, on awkward shapes (odd sizes, broadcasting,
negative axes, batch > 1, float16-overflowing values). Then whole programs built with coremltools'
Builder and optimizers, saved and run through the loader; and the check that every op type of a small
fp16 and fp32 export, and every op the interpreter implements, is tested here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from runtime.mlprogram import REGISTRY, Program, UnsupportedOpError

RNG = np.random.default_rng(0)


def _r(*shape, scale=1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _t(x) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x))


def _run(op: str, **kwargs):
    return REGISTRY[op](**kwargs)


def _close(got, want, atol=1e-5, rtol=1e-5) -> None:
    want = want.numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype == bool or want.dtype.kind in "iu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)


# (op type, case id, kwargs, reference) — the reference is computed independently (torch / numpy rules).
CASES: list[tuple[str, str, dict, object]] = []


def case(op: str, name: str, kwargs: dict, want, **tol) -> None:
    CASES.append((op, name, kwargs, (want, tol)))


# --- elementwise -------------------------------------------------------------------------------------------
a, b = _r(2, 1, 5), _r(3, 1)
for op, fn in {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "real_div": torch.div,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "equal": torch.eq,
    "not_equal": torch.ne,
    "greater": torch.gt,
    "greater_equal": torch.ge,
    "less": torch.lt,
    "less_equal": torch.le,
}.items():
    y = np.round(b) if op in ("equal", "not_equal") else b
    x = np.round(a) if op in ("equal", "not_equal") else a
    case(op, "broadcast 2x1x5 with 3x1", {"x": x, "y": y}, fn(_t(x), _t(y)))
case("pow", "positive base", {"x": np.abs(a) + 0.1, "y": b}, torch.pow(_t(np.abs(a) + 0.1), _t(b)), rtol=1e-4)
ia, ib = np.array([7, -7, 9, -9], np.int32), np.array([2, 2, -4, -4], np.int32)
case(
    "real_div",
    "int32 exact",
    {"x": np.array([6, -8], np.int32), "y": np.array([3, 2], np.int32)},
    torch.tensor([2.0, -4.0]),
)
case("floor_div", "int32 signs", {"x": ia, "y": ib}, torch.floor_divide(_t(ia), _t(ib)))
case("mod", "int32 signs", {"x": ia, "y": ib}, torch.remainder(_t(ia), _t(ib)))
p, q = RNG.random((4, 1)) > 0.5, RNG.random((1, 3)) > 0.5
case("logical_and", "broadcast", {"x": p, "y": q}, torch.logical_and(_t(p), _t(q)))
case("logical_or", "broadcast", {"x": p, "y": q}, torch.logical_or(_t(p), _t(q)))
case("logical_xor", "broadcast", {"x": p, "y": q}, torch.logical_xor(_t(p), _t(q)))
case("logical_not", "2-D", {"x": p}, torch.logical_not(_t(p)))
u = _r(3, 7, scale=3)
for op, fn in {
    "abs": torch.abs,
    "cos": torch.cos,
    "sin": torch.sin,
    "exp": torch.exp,
    "floor": torch.floor,
    "ceil": torch.ceil,
    "sign": torch.sign,
    "square": torch.square,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "erf": torch.erf,
}.items():
    case(op, "3x7", {"x": u}, fn(_t(u)), atol=2e-7 if op == "erf" else 1e-5)
tiny = np.array([1e-6, -3e-3, 0.05, -0.099, 0.1, 4.0, -6.0], np.float32)
case("erf", "near 0 and in the tails", {"x": tiny}, torch.erf(_t(tiny)), atol=1e-9, rtol=1e-6)
case("sigmoid", "±1e4 without overflow", {"x": np.array([-1e4, 1e4, 0], np.float32)}, torch.tensor([0.0, 1.0, 0.5]))
case("relu6", "3x7", {"x": u * 3}, F.relu6(_t(u * 3)))
case("leaky_relu", "alpha 0.2", {"x": u, "alpha": 0.2}, F.leaky_relu(_t(u), 0.2))
case("sqrt", "positive", {"x": np.abs(u)}, torch.sqrt(_t(np.abs(u))))
case("log", "epsilon added", {"x": np.abs(u) + 0.5, "epsilon": 0.25}, torch.log(_t(np.abs(u) + 0.75)))
halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -0.7], np.float32)
case("round", "halves to even", {"x": halves}, torch.round(_t(halves)))
case("rsqrt", "epsilon under the root", {"x": np.abs(u), "epsilon": 1e-3}, torch.rsqrt(_t(np.abs(u)) + 1e-3), rtol=1e-4)
case("inverse", "epsilon added", {"x": np.abs(u) + 0.1, "epsilon": 1e-4}, 1 / (_t(np.abs(u) + 0.1) + 1e-4))
case("clip", "alpha beta", {"x": u, "alpha": -1.0, "beta": 2.0}, torch.clamp(_t(u), -1.0, 2.0))
case(
    "cast",
    "fp32 to int32 truncates",
    {"x": np.array([-2.7, 2.7, 0.5], np.float32), "dtype": "int32"},
    torch.tensor([-2.7, 2.7, 0.5]).to(torch.int32),
)
case("cast", "int32 to fp16", {"x": np.array([1, 70000], np.int32), "dtype": "fp16"}, torch.tensor([1, 70000]).half())
case(
    "cast",
    "fp32 to bool",
    {"x": np.array([0.0, -1.0, 2.0], np.float32), "dtype": "bool"},
    torch.tensor([False, True, True]),
)
cond = RNG.random((2, 1, 4)) > 0.5
case("select", "broadcast", {"cond": cond, "a": _r(3, 1), "b": np.float32(-1.0)}, None)  # reference filled below

# --- activations ---------------------------------------------------------------------------------------
g = _r(2, 3, 5, scale=3)
case(
    "gelu",
    "EXACT (float64 reference: float32 torch cancels in the left tail)",
    {"x": g, "mode": "EXACT"},
    F.gelu(_t(g).double()).float(),
    atol=1e-9,
    rtol=1e-6,
)
case("gelu", "TANH_APPROXIMATION", {"x": g, "mode": "TANH_APPROXIMATION"}, F.gelu(_t(g), approximate="tanh"))
case("gelu", "SIGMOID_APPROXIMATION", {"x": g, "mode": "SIGMOID_APPROXIMATION"}, _t(g) * torch.sigmoid(1.702 * _t(g)))
big = _r(2, 3, 9, scale=30)
case("softmax", "axis -1, large logits", {"x": big, "axis": -1}, torch.softmax(_t(big), -1))
case("softmax", "axis 1", {"x": big, "axis": 1}, torch.softmax(_t(big), 1))

# --- reductions ------------------------------------------------------------------------------------------
r = _r(2, 3, 5)
for op, fn in {
    "reduce_sum": torch.sum,
    "reduce_mean": torch.mean,
    "reduce_max": torch.amax,
    "reduce_min": torch.amin,
    "reduce_prod": lambda x, dim, keepdim: (
        torch.prod(torch.prod(x, dim[0], keepdim), dim[1] - (not keepdim), keepdim)
        if len(dim) == 2
        else torch.prod(x, dim[0], keepdim)
    ),
    "reduce_sum_square": lambda x, dim, keepdim: torch.sum(x * x, dim, keepdim),
    "reduce_l2_norm": lambda x, dim, keepdim: torch.linalg.vector_norm(x, 2, dim, keepdim),
    "reduce_l1_norm": lambda x, dim, keepdim: torch.linalg.vector_norm(x, 1, dim, keepdim),
    "reduce_log_sum_exp": torch.logsumexp,
}.items():
    case(op, "axes [-1] keep", {"x": r, "axes": np.array([-1]), "keep_dims": True}, fn(_t(r), (-1,), True))
    case(op, "axes [0, 2]", {"x": r, "axes": np.array([0, 2]), "keep_dims": False}, fn(_t(r), (0, 2), False))
case("reduce_sum", "all axes", {"x": r}, torch.sum(_t(r)))
ties = np.array([[1, 3, 3, 0], [2, 2, 1, 2]], np.float32)
case(
    "reduce_argmax",
    "ties take the first",
    {"x": ties, "axis": -1, "keep_dims": True},
    torch.tensor([[1], [0]], dtype=torch.int32),
)
case("reduce_argmin", "axis 0", {"x": ties, "axis": 0}, torch.tensor([0, 1, 1, 0], dtype=torch.int32))
case(
    "reduce_argmax",
    "uint16 output",
    {"x": r, "axis": 1, "output_dtype": "uint16"},
    torch.argmax(_t(r), 1).to(torch.int32),
)

# --- normalization ----------------------------------------------------------------------------------------
bn_x, c = _r(2, 5, 3, 4, scale=4), 5
mean, var, gamma, beta = _r(c), np.abs(_r(c)) + 0.1, _r(c), _r(c)
case(
    "batch_norm",
    "rank 4",
    {"x": bn_x, "mean": mean, "variance": var, "gamma": gamma, "beta": beta, "epsilon": 1e-3},
    F.batch_norm(_t(bn_x), _t(mean), _t(var), _t(gamma), _t(beta), False, 0.0, 1e-3),
    atol=1e-4,
)
case(
    "batch_norm",
    "rank 3, no affine",
    {"x": bn_x[:, :, 0], "mean": mean, "variance": var, "epsilon": 1e-5},
    F.batch_norm(_t(bn_x[:, :, 0]), _t(mean), _t(var), None, None, False, 0.0, 1e-5),
    atol=1e-4,
)
ln_x = _r(2, 7, 6, scale=50) + 300  # large offset: the centred variance matters
lg, lb = _r(6), _r(6)
case(
    "layer_norm",
    "axes [-1]",
    {"x": ln_x, "axes": np.array([-1]), "gamma": lg, "beta": lb, "epsilon": 1e-5},
    F.layer_norm(_t(ln_x), (6,), _t(lg), _t(lb), 1e-5),
    atol=1e-4,
)
lg2 = _r(7, 6)
case(
    "layer_norm",
    "axes [2, 1] unsorted",
    {"x": ln_x, "axes": np.array([2, 1]), "gamma": lg2.T.copy(), "epsilon": 1e-6},
    F.layer_norm(_t(ln_x), (7, 6), _t(lg2), None, 1e-6),
    atol=1e-4,
)
case(
    "instance_norm",
    "rank 4",
    {"x": bn_x, "gamma": gamma, "beta": beta, "epsilon": 1e-5},
    F.instance_norm(_t(bn_x), weight=_t(gamma), bias=_t(beta), eps=1e-5),
    atol=1e-4,
)

# --- products ----------------------------------------------------------------------------------------------
lx, lw, lbias = _r(3, 5, 7), _r(4, 7), _r(4)
case("linear", "batch 3, bias", {"x": lx, "weight": lw, "bias": lbias}, F.linear(_t(lx), _t(lw), _t(lbias)))
case("linear", "no bias", {"x": lx[0], "weight": lw}, F.linear(_t(lx[0]), _t(lw)))
ma, mb_ = _r(2, 1, 4, 3), _r(5, 4, 6)
case(
    "matmul",
    "transpose_x, broadcast batch",
    {"x": ma, "y": mb_, "transpose_x": True, "transpose_y": False},
    torch.matmul(_t(ma).transpose(-1, -2), _t(mb_)),
    atol=1e-4,
)
case("matmul", "transpose_y", {"x": _r(2, 3, 4), "y": _r(2, 5, 4), "transpose_y": True}, None)
vec = _r(4)
case("matmul", "rank-1 y", {"x": _r(3, 4), "y": vec}, None)
sq, sk, sv = _r(2, 3, 5, 8, scale=3.0), _r(2, 3, 7, 8, scale=3.0), _r(2, 3, 7, 6)
case(
    "scaled_dot_product_attention",
    "no mask, scores in the tens",
    {"query": sq, "key": sk, "value": sv},
    F.scaled_dot_product_attention(_t(sq), _t(sk), _t(sv)),
    atol=1e-5,
)
bool_mask = RNG.random((5, 7)) > 0.3
bool_mask[:, 0] = True  # every query attends to something
case(
    "scaled_dot_product_attention",
    "bool mask broadcast over batch and heads",
    {"query": sq, "key": sk, "value": sv, "attn_mask": bool_mask},
    F.scaled_dot_product_attention(_t(sq), _t(sk), _t(sv), attn_mask=_t(bool_mask)),
    atol=1e-5,
)
float_mask = _r(3, 1, 7)
case(
    "scaled_dot_product_attention",
    "float mask added per head",
    {"query": sq, "key": sk, "value": sv, "attn_mask": float_mask},
    F.scaled_dot_product_attention(_t(sq), _t(sk), _t(sv), attn_mask=_t(float_mask)),
    atol=1e-5,
)
for name, (cx, cw, kw) in {
    "3x3 stride 2 same, odd size": ((2, 3, 11, 9), (5, 3, 3, 3), {"strides": [2, 2], "pad_type": "same"}),
    "same_lower 4x4 stride 3": ((1, 2, 10, 7), (3, 2, 4, 4), {"strides": [3, 3], "pad_type": "same_lower"}),
    "custom pad, dilation 2": (
        (1, 4, 9, 8),
        (6, 4, 3, 2),
        {"pad_type": "custom", "pad": [2, 1, 0, 3], "dilations": [2, 2]},
    ),
    "valid 1x1": ((2, 8, 5, 6), (3, 8, 1, 1), {"pad_type": "valid"}),
    "groups 2": ((1, 6, 7, 7), (4, 3, 3, 3), {"pad_type": "custom", "pad": [1, 1, 1, 1], "groups": 2}),
    "depthwise 7x7": ((2, 5, 12, 9), (5, 1, 7, 7), {"pad_type": "custom", "pad": [3, 3, 3, 3], "groups": 5}),
    "depthwise ×2 multiplier": ((1, 3, 8, 8), (6, 1, 3, 3), {"pad_type": "same", "groups": 3}),
    "stride 4 patchify": ((1, 1, 16, 16), (4, 1, 4, 4), {"strides": [4, 4], "pad_type": "valid"}),
}.items():
    case("conv", name, {"x": _r(*cx), "weight": _r(*cw), "bias": _r(cw[0]), **kw}, None)
case(
    "conv",
    "1-D stride 2",
    {"x": _r(2, 3, 13), "weight": _r(4, 3, 3), "strides": [2], "pad_type": "custom", "pad": [1, 1]},
    None,
)

# --- resampling ---------------------------------------------------------------------------------------------
up = _r(2, 3, 5, 7)
case(
    "upsample_bilinear",
    "align_corners=False ×4",
    {"x": up, "scale_factor_height": 4, "scale_factor_width": 4, "align_corners": False},
    F.interpolate(_t(up), scale_factor=4, mode="bilinear", align_corners=False),
)
case(
    "upsample_bilinear",
    "align_corners=True ×2",
    {"x": up, "scale_factor_height": 2, "scale_factor_width": 2, "align_corners": True},
    F.interpolate(_t(up), scale_factor=2, mode="bilinear", align_corners=True),
)
case(
    "upsample_bilinear",
    "rank 3, ×3 by ×2",
    {"x": up[0], "scale_factor_height": 3, "scale_factor_width": 2, "align_corners": False},
    F.interpolate(_t(up[:1]), scale_factor=(3, 2), mode="bilinear", align_corners=False)[0],
)
case(
    "upsample_nearest_neighbor",
    "×2 by ×3",
    {"x": up, "scale_factor_height": 2, "scale_factor_width": 3},
    F.interpolate(_t(up), scale_factor=(2, 3), mode="nearest"),
)

# --- shape and indexing ----------------------------------------------------------------------------------
s = _r(2, 3, 4)
case("reshape", "-1 and 0 from the right", {"x": s, "shape": np.array([1, 0, -1, 0])}, _t(s).reshape(1, 2, 3, 4))
case("transpose", "perm", {"x": s, "perm": np.array([2, 0, 1])}, _t(s).permute(2, 0, 1))
case("expand_dims", "negative axes", {"x": s, "axes": np.array([-1, 0])}, _t(s)[None, ..., None])
case("squeeze", "axes", {"x": s[:, :1, None], "axes": np.array([-2])}, _t(s[:, :1, None]).squeeze(-2))
case("squeeze", "all", {"x": s[:1, :, None]}, _t(s[:1, :, None]).squeeze())
case("concat", "axis -1", {"values": [s, s[..., :2]], "axis": -1}, torch.cat([_t(s), _t(s[..., :2])], -1))
case(
    "concat",
    "scalars",
    {"values": [np.int32(3), np.array([4, 5], np.int32)], "axis": 0},
    torch.tensor([3, 4, 5], dtype=torch.int32),
)
case(
    "concat",
    "interleave",
    {"values": [s, s + 10], "axis": 1, "interleave": True},
    torch.stack([_t(s), _t(s + 10)], 2).reshape(2, 6, 4),
)
case("stack", "axis -1", {"values": [s, s * 2], "axis": -1}, torch.stack([_t(s), _t(s * 2)], -1))
case("tile", "reps", {"x": s, "reps": np.array([1, 2, 3])}, _t(s).repeat(1, 2, 3))
case("fill", "shape", {"shape": np.array([2, 3]), "value": 1.5}, torch.full((2, 3), 1.5, dtype=torch.float64))
case("fill_like", "ref", {"ref_tensor": s, "value": -2.0}, torch.full((2, 3, 4), -2.0, dtype=torch.float64))
case("shape", "rank 3", {"x": s}, torch.tensor([2, 3, 4], dtype=torch.int32))
case(
    "range_1d",
    "step 3",
    {"start": np.int32(1), "end": np.int32(11), "step": np.int32(3)},
    torch.arange(1, 11, 3, dtype=torch.int32),
)
case(
    "slice_by_index",
    "masks, negative stride, squeeze",
    {
        "x": s,
        "begin": np.array([1, 2, 0]),
        "end": np.array([0, 0, 3]),
        "stride": np.array([1, -1, 2]),
        "begin_mask": np.array([False, False, False]),
        "end_mask": np.array([True, True, False]),
        "squeeze_mask": np.array([True, False, False]),
    },
    _t(s)[1].flip(0)[:, 0:3:2],
)
case(
    "slice_by_index",
    "negative begin",
    {"x": s, "begin": np.array([0, -2, 1]), "end": np.array([2, 3, -1])},
    _t(s)[0:2, -2:3, 1:-1],
)
case(
    "slice_by_size", "size -1", {"x": s, "begin": np.array([1, 0, 2]), "size": np.array([1, -1, 2])}, _t(s)[1:2, :, 2:4]
)
gx = _r(4, 5, 3)
case(
    "gather",
    "negative indices, axis -2",
    {"x": gx, "indices": np.array([[0, -1], [2, 2]]), "axis": -2},
    torch.stack([_t(gx)[:, [0, 4]], _t(gx)[:, [2, 2]]], 1),
)
case("gather", "scalar index", {"x": gx, "indices": np.int32(3), "axis": 0}, _t(gx)[3])
bi = np.array([[1, 0], [2, 2], [0, 1], [4, 3]])
case(
    "gather",
    "batch_dims 1",
    {"x": gx, "indices": bi, "axis": 1, "batch_dims": 1},
    torch.stack([_t(gx)[i, bi[i]] for i in range(4)]),
)
ga = np.array([[[0], [2], [1], [0], [2]]] * 4)
case("gather_along_axis", "axis -1", {"x": gx, "indices": ga, "axis": -1}, torch.gather(_t(gx), -1, _t(ga)))
sd, su = _r(3, 6), _r(3, 2)
case(
    "scatter",
    "update, axis -1",
    {"data": sd, "indices": np.array([4, 1]), "updates": su, "axis": -1, "mode": "update"},
    _t(sd).index_copy(1, torch.tensor([4, 1]), _t(su)),
)
case(
    "scatter",
    "add, repeated index",
    {"data": sd, "indices": np.array([2, 2]), "updates": su, "axis": 1, "mode": "add"},
    _t(sd).index_add(1, torch.tensor([2, 2]), _t(su)),
)
case("scatter", "mul", {"data": sd, "indices": np.array([0, 5]), "updates": su, "axis": 1, "mode": "mul"}, None)
case(
    "one_hot",
    "axis 1, out-of-range all off",
    {"indices": np.array([[0, 3], [2, 5]]), "one_hot_vector_size": 4, "axis": 1, "on_value": 7, "off_value": -1},
    torch.where(
        F.one_hot(torch.tensor([[0, 3], [2, 3]]), 4).permute(0, 2, 1).bool()
        & torch.tensor([[True, True], [True, False]])[:, None],
        7,
        -1,
    ),
)
pd = _r(2, 3, 4, 5)
case(
    "pad",
    "constant",
    {"x": pd, "pad": np.array([1, 2, 0, 3]), "mode": "constant", "constant_val": 0.5},
    F.pad(_t(pd), (0, 3, 1, 2), value=0.5),
)
case(
    "pad", "reflect", {"x": pd[0], "pad": np.array([2, 1]), "mode": "reflect"}, F.pad(_t(pd[0]), (2, 1), mode="reflect")
)
case(
    "pad",
    "replicate",
    {"x": pd, "pad": np.array([1, 1, 2, 2]), "mode": "replicate"},
    F.pad(_t(pd), (2, 2, 1, 1), mode="replicate"),
)
case("split", "sizes, axis -1", {"x": s, "axis": -1, "split_sizes": np.array([1, 3])}, None)
case("split", "num_splits", {"x": s, "axis": 1, "num_splits": 3}, None)


def _reference(op: str, kwargs: dict):
    """References that need more than one torch call."""
    k = kwargs
    if op == "select":
        return torch.where(_t(k["cond"]), _t(k["a"]), torch.tensor(k["b"]))
    if op == "matmul":
        x, y = _t(k["x"]), _t(k["y"])
        if k.get("transpose_y"):
            y = y.transpose(-1, -2)
        return torch.matmul(x, y)
    if op == "conv":
        x, w, bias = _t(k["x"]), _t(k["weight"]), _t(k["bias"]) if "bias" in k else None
        spatial = x.ndim - 2
        stride = k.get("strides", [1] * spatial)
        dil = k.get("dilations", [1] * spatial)
        groups = k.get("groups", 1)
        mode = k["pad_type"]
        if mode == "custom":
            pads = k["pad"]
            x = F.pad(x, [v for i in reversed(range(spatial)) for v in (pads[2 * i], pads[2 * i + 1])])
        elif mode in ("same", "same_lower"):
            pads = []
            for i in reversed(range(spatial)):
                size, kk, st, d = x.shape[2 + i], w.shape[2 + i], stride[i], dil[i]
                total = max((-(-size // st) - 1) * st + (kk - 1) * d + 1 - size, 0)
                lo, hi = (total // 2, total - total // 2) if mode == "same" else (total - total // 2, total // 2)
                pads += [lo, hi]
            x = F.pad(x, pads)
        fn = F.conv1d if spatial == 1 else F.conv2d
        return fn(x, w, bias, stride=stride, dilation=dil, groups=groups)
    if op == "scatter":
        out = k["data"].copy()
        for i, idx in enumerate(k["indices"]):
            out[:, idx] *= k["updates"][:, i]
        return torch.from_numpy(out)
    if op == "split":
        x = _t(k["x"])
        if "split_sizes" in k:
            return tuple(torch.split(x, list(k["split_sizes"]), dim=k["axis"]))
        return tuple(torch.chunk(x, k["num_splits"], dim=k["axis"]))
    raise AssertionError(f"no reference for {op}")


@pytest.mark.parametrize("op, name, kwargs, expected", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_op(op, name, kwargs, expected):
    want, tol = expected
    if want is None:
        want = _reference(op, kwargs)
    got = _run(op, **kwargs)
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w, **tol)
    else:
        _close(got, want, **tol)


# --- compressed weights against coremltools' own decompression ---------------------------------------------


def test_constexpr_ops_match_coremltools():
    from coremltools.converters.mil.mil.ops.defs.iOS16 import constexpr_ops as v16
    from coremltools.converters.mil.mil.ops.defs.iOS18 import compression as v18

    rng = np.random.default_rng(3)
    # iOS 16 LUT: 4-bit packed indices of an odd-sized tensor.
    shape = np.array([3, 5, 7], np.uint32)
    lut = rng.standard_normal(16).astype(np.float16)
    packed = rng.integers(0, 256, int(np.ceil(4 * shape.prod() / 8)), dtype=np.uint8)
    _close(
        _run("constexpr_lut_to_dense", indices=packed, lut=lut, shape=shape),
        v16.constexpr_lut_to_dense.decompress(lut, packed, shape),
    )
    # 6-bit fields straddle bytes.
    lut6 = rng.standard_normal(64).astype(np.float32)
    packed6 = rng.integers(0, 256, int(np.ceil(6 * shape.prod() / 8)), dtype=np.uint8)
    _close(
        _run("constexpr_lut_to_dense", indices=packed6, lut=lut6, shape=shape),
        v16.constexpr_lut_to_dense.decompress(lut6, packed6, shape),
    )
    # iOS 16 affine int8 along axis 1.
    q = rng.integers(-128, 128, (4, 6, 3), dtype=np.int8)
    scale, zero = rng.random(6).astype(np.float32), rng.integers(-5, 5, 6).astype(np.int8)
    _close(
        _run("constexpr_affine_dequantize", quantized_data=q, zero_point=zero, scale=scale, axis=1),
        v16.constexpr_affine_dequantize.decompress(q, zero, scale, 1),
    )
    _close(
        _run("constexpr_affine_dequantize", quantized_data=q, zero_point=np.int8(3), scale=np.float32(0.5), axis=-1),
        0.5 * (q.astype(np.float32) - 3),
    )
    # iOS 16 sparse: packed mask bits.
    dense = rng.standard_normal((5, 7)).astype(np.float32) * (rng.random((5, 7)) > 0.6)
    mask = np.packbits((dense != 0).reshape(-1), bitorder="little")
    nz = dense[dense != 0]
    _close(
        _run("constexpr_sparse_to_dense", nonzero_data=nz, mask=mask, shape=np.array([5, 7], np.uint32)),
        v16.constexpr_sparse_to_dense.decompress(nz, mask, np.array([5, 7])),
    )
    _close(_run("constexpr_cast", source_val=lut, output_dtype="fp32"), lut.astype(np.float32))
    # iOS 18 blockwise int4 (values −8…7) with offsets, blocks of 4 along the last axis.
    data = rng.integers(-8, 8, (6, 8)).astype(np.int8)
    bscale = rng.random((6, 2)).astype(np.float16)
    boff = rng.integers(-8, 8, (6, 2)).astype(np.int8)
    # An fp16 scale types the output fp16: stored as float16 (coremltools computes in float16; the product
    # of two float16 values is exact in float32, so rounding once gives the same value).
    _close(
        _run("constexpr_blockwise_shift_scale", data=data, scale=bscale, offset=boff).astype(np.float16),
        v18.constexpr_blockwise_shift_scale.decompress(data, bscale, boff),
        atol=0,
        rtol=0,
    )
    u4 = (data + 8).astype(np.uint8)
    _close(
        _run("constexpr_blockwise_shift_scale", data=u4, scale=bscale[:, :1].astype(np.float32)),
        v18.constexpr_blockwise_shift_scale.decompress(u4, bscale[:, :1].astype(np.float32), None),
    )
    # iOS 18 LUT: per-group tables (2 groups along axis 0), 2-bit, and a vector LUT along axis 1.
    ids = rng.integers(0, 4, (6, 4)).astype(np.uint8)
    glut = rng.standard_normal((2, 1, 4, 1)).astype(np.float16)
    _close(
        _run("constexpr_lut_to_dense", indices=ids, lut=glut), v18.constexpr_lut_to_dense.decompress(ids, glut, None)
    )
    vlut = rng.standard_normal((1, 1, 4, 3)).astype(np.float32)
    _close(
        _run("constexpr_lut_to_dense", indices=ids, lut=vlut, vector_axis=np.int32(1)),
        v18.constexpr_lut_to_dense.decompress(ids, vlut, np.int32(1)),
    )
    # iOS 18 sparse forms.
    dmask = (rng.random((4, 6)) > 0.5).astype(np.uint8)
    nzv = rng.standard_normal(int(dmask.sum())).astype(np.float32)
    _close(
        _run("constexpr_sparse_to_dense", nonzero_data=nzv, mask=dmask),
        v18.constexpr_sparse_to_dense.decompress(nzv, dmask),
    )
    nz_ids = rng.integers(0, 4, int(dmask.sum())).astype(np.uint8)
    m2, v2 = _run(
        "constexpr_lut_to_sparse",
        indices_mask=dmask,
        indices_nonzero_data=nz_ids,
        lut=glut[:1].repeat(1, 0)[:, :, :, :],
    )
    want_mask, want_vals = v18.constexpr_lut_to_sparse.decompress(dmask, nz_ids, glut[:1], None)
    _close(m2, want_mask)
    _close(v2, want_vals)
    nzq = rng.integers(-8, 8, int(dmask.sum())).astype(np.int8)
    sscale = rng.random((2, 3)).astype(np.float32)
    m3, v3 = _run("constexpr_sparse_blockwise_shift_scale", data_mask=dmask, nonzero_data=nzq, scale=sscale)
    want_mask, want_vals = v18.constexpr_sparse_blockwise_shift_scale.decompress(dmask, nzq, sscale, None)
    _close(m3, want_mask)
    _close(v3, want_vals)


# --- whole programs through the loader ---------------------------------------------------------------------


def _save(prog, path, target=None, precision="fp32"):
    import coremltools as ct

    target = target or ct.target.iOS17
    model = ct.convert(
        prog,
        convert_to="mlprogram",
        minimum_deployment_target=target,
        compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16,
    )
    model.save(str(path))
    return model


def test_program_stores_fp16_after_every_op(tmp_path):
    """A float16 program: each op's result is rounded to float16 (100·300 overflows to inf, then stays
    inf through the next op); the float32 storage run keeps 30000."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3), dtype=types.fp32)])
    def prog(x):
        h = mb.cast(x=x, dtype="fp16")
        big = mb.mul(x=h, y=np.float16(300.0))
        back = mb.mul(x=big, y=np.float16(1 / 300))
        return mb.cast(x=back, dtype="fp32", name="y")

    _save(prog, tmp_path / "p.mlpackage", precision="fp32")
    program = Program(tmp_path / "p.mlpackage", "toy")
    x = np.array([[1.0, 100.0, 250.0], [0.1, -300.0, 1e-3]], np.float32)
    y = program.run({"x": x})["y"]
    want = (x.astype(np.float16).astype(np.float32) * 300).astype(np.float16).astype(np.float32)
    want = (want * np.float32(np.float16(1 / 300))).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(y, want)
    assert np.isinf(y[1, 1]) and np.isinf(y[0, 2]) and abs(y[0, 0] - 1) < 1e-3
    wide = program.run({"x": x}, storage="float32")["y"]
    assert np.isfinite(wide).all() and abs(wide[1, 1] + 300) < 0.5
    traced = program.run({"x": x}, record=True)
    assert any(np.isinf(v).any() for k, v in traced.items() if k != "y")


def test_program_runs_converted_torch_module(tmp_path):
    """A torch module converted by coremltools (conv, layer norm, gelu, softmax attention, bilinear upsampling)
    runs through the loader and matches torch, in float32 and within float16's error in float16."""
    import coremltools as ct

    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.dw = torch.nn.Conv2d(8, 8, 5, padding=2, groups=8)
            self.norm = torch.nn.LayerNorm(8)
            self.proj = torch.nn.Linear(8, 24)

        def forward(self, x):
            h = F.gelu(self.dw(self.conv(x)))
            tokens = self.norm(h.flatten(2).transpose(1, 2))
            q, k, v = self.proj(tokens).chunk(3, -1)
            att = torch.softmax(q @ k.transpose(1, 2) / 8**0.5, -1) @ v
            out = att.transpose(1, 2).reshape(h.shape)
            return F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)

    torch.manual_seed(0)
    module = Toy().eval()
    x = torch.randn(2, 3, 13, 11)
    want = module(x).detach().numpy()
    traced = torch.jit.trace(module, x)
    from edgetam_export.to_coreml import _torch_frontend_fixes  # coremltools 9.0's int() casts on numpy ≥ 2.4

    for precision, tol in (("fp32", 1e-5), ("fp16", 2e-2)):
        path = tmp_path / f"toy_{precision}.mlpackage"
        with _torch_frontend_fixes():
            model = ct.convert(
                traced,
                inputs=[ct.TensorType(name="x", shape=x.shape)],
                outputs=[ct.TensorType(name="y")],
                convert_to="mlprogram",
                minimum_deployment_target=ct.target.iOS17,
                compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16,
            )
        model.save(str(path))
        got = Program(path, "toy").run({"x": x.numpy()})["y"]
        assert np.abs(got - want).max() / want.std() < tol, precision


@pytest.mark.parametrize(
    "preset",
    [
        "palettize_4bit_ios17",
        "palettize_6bit_grouped_ios18",
        "int8_per_channel_ios17",
        "int8_blockwise_ios18",
        "int4_blockwise_ios18",
        "prune_50_ios17",
    ],
)
def test_compressed_program_matches_coremltools(tmp_path, preset):
    """coremltools' optimizers' outputs (constexpr ops) run through the loader and decompress to what
    coremltools itself computes (its value inference of the same ops)."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(16, 32, 3, padding=1)
            self.fc = torch.nn.Linear(32, 64)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    torch.manual_seed(1)
    x = torch.randn(2, 16, 6, 6)
    target = ct.target.iOS18 if preset.endswith("ios18") else ct.target.iOS17
    from edgetam_export.to_coreml import _torch_frontend_fixes

    with _torch_frontend_fixes():
        model = ct.convert(
            torch.jit.trace(Net().eval(), x),
            inputs=[ct.TensorType(name="x", shape=x.shape)],
            outputs=[ct.TensorType(name="y")],
            convert_to="mlprogram",
            minimum_deployment_target=target,
            compute_precision=ct.precision.FLOAT32,
        )
    if preset == "palettize_4bit_ios17":
        op = cto.OpPalettizerConfig(mode="uniform", nbits=4, weight_threshold=100)
        model = cto.palettize_weights(model, cto.OptimizationConfig(global_config=op))
    elif preset == "palettize_6bit_grouped_ios18":
        op = cto.OpPalettizerConfig(
            mode="uniform", nbits=6, granularity="per_grouped_channel", group_size=8, weight_threshold=100
        )
        model = cto.palettize_weights(model, cto.OptimizationConfig(global_config=op))
    elif preset == "prune_50_ios17":
        op = cto.OpMagnitudePrunerConfig(target_sparsity=0.5, weight_threshold=100)
        model = cto.prune_weights(model, cto.OptimizationConfig(global_config=op))
    else:
        kw = {
            "int8_per_channel_ios17": dict(dtype="int8", granularity="per_channel"),
            "int8_blockwise_ios18": dict(dtype="int8", granularity="per_block", block_size=8),
            "int4_blockwise_ios18": dict(dtype="int4", granularity="per_block", block_size=8),
        }[preset]
        op = cto.OpLinearQuantizerConfig(mode="linear_symmetric", weight_threshold=100, **kw)
        model = cto.linear_quantize_weights(model, cto.OptimizationConfig(global_config=op))
    path = tmp_path / f"{preset}.mlpackage"
    model.save(str(path))
    program = Program(path, preset)
    constexpr = {t for t in program.op_types() if t.startswith("constexpr_")}
    assert constexpr, program.op_types()
    # Every decompressed constant equals coremltools' own decompression of the same op.
    from runtime.mlprogram.program import load_mil

    mil = load_mil(path)
    checked = 0
    for mil_op in mil.functions["main"].operations:
        if mil_op.op_type.startswith("constexpr_") and len(mil_op.outputs) == 1:
            want = mil_op.materialized_val_inference()
            got = program.constants[mil_op.outputs[0].name]
            np.testing.assert_allclose(got, np.asarray(want, np.float32), rtol=1e-6, atol=1e-6)
            checked += 1
    assert checked >= 2
    y = program.run({"x": x.numpy()})["y"]
    assert y.shape == (2, 64) and np.isfinite(y).all()


def test_unknown_op_is_a_clear_error(tmp_path, monkeypatch):
    """An op type without an implementation fails at load time, naming the op, the stage and coremltools."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    import runtime.mlprogram.program as program_module

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3), dtype=types.fp32)])
    def prog(x):
        return mb.softplus(x=x, name="y")

    _save(prog, tmp_path / "p.mlpackage")
    assert "softplus" not in REGISTRY
    with pytest.raises(UnsupportedOpError, match=rf"my_stage.*softplus.*coremltools {ct.__version__}"):
        Program(tmp_path / "p.mlpackage", "my_stage")
    monkeypatch.setattr(program_module, "REGISTRY", {**REGISTRY, "softplus": lambda x: np.log1p(np.exp(x))})
    y = program_module.Program(tmp_path / "p.mlpackage", "my_stage").run({"x": np.zeros((2, 3), np.float32)})["y"]
    np.testing.assert_allclose(y, np.log(2.0), rtol=1e-6)


def _tested_ops() -> set[str]:
    return {c[0] for c in CASES} | {
        "constexpr_lut_to_dense",
        "constexpr_affine_dequantize",
        "constexpr_sparse_to_dense",
        "constexpr_cast",
        "constexpr_blockwise_shift_scale",
        "constexpr_lut_to_sparse",
        "constexpr_sparse_blockwise_shift_scale",
    }  # test_constexpr_ops_match_coremltools


def test_every_implemented_op_is_tested():
    untested = sorted(set(REGISTRY) - _tested_ops())
    assert not untested, f"ops implemented without a test: {untested}"


def test_every_exported_op_type_is_implemented_and_tested(tiny_coreml_exports):
    """The op types of a small fp16 and fp32 export (flexible object batch) all have an implementation and
    a test here."""
    from edgetam_export.to_coreml import op_types

    seen: dict[str, set[str]] = {}
    for precision, folder in tiny_coreml_exports.items():
        for package in sorted((folder / "coreml").glob("*.mlpackage")):
            for op in op_types(package):
                seen.setdefault(op, set()).add(f"{precision}/{package.stem}")
    seen.pop("const", None)
    print(f"{len(seen)} op types: {', '.join(sorted(seen))}")
    assert len(seen) >= 40
    missing = sorted(op for op in seen if op not in REGISTRY)
    untested = sorted(op for op in seen if op not in _tested_ops())
    assert not missing and not untested, (missing, untested)
