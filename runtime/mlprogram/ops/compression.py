"""Compressed-weight ops (constexpr_*): palettized, quantized, sparse and cast constants.

They depend only on constants, so the interpreter evaluates them once when it loads a program. Both op
versions are handled: iOS 16 (packed 1-D indices with a `shape`, affine dequantization along one axis)
and iOS 18 (unpacked sub-byte tensors, per-block look-up tables and scales). coremltools' loader hands
sub-byte tensors (uint1…uint6, int4) over as one integer per element.
"""

from __future__ import annotations

import numpy as np

from . import register


def unpack_bits(packed: np.ndarray, nbits: int, count: int) -> np.ndarray:
    """`count` nbits-wide unsigned fields packed from the least significant bit of byte 0 upward."""
    bits = np.unpackbits(np.asarray(packed, dtype=np.uint8), bitorder="little")[: count * nbits]
    weights = (1 << np.arange(nbits)).astype(np.int64)
    return (bits.reshape(count, nbits).astype(np.int64) * weights).sum(axis=1)


@register("constexpr_affine_dequantize")
def constexpr_affine_dequantize(quantized_data, zero_point, scale, axis):
    """scale · (quantized_data − zero_point), scale and zero point scalars or vectors along `axis`."""
    data = np.asarray(quantized_data).astype(np.float32)
    shape = [1] * data.ndim
    shape[int(axis) % data.ndim] = -1
    zero = np.asarray(zero_point).astype(np.float32)
    scale = np.asarray(scale).astype(np.float32)
    zero = zero.reshape(shape) if zero.ndim == 1 else zero
    scale = scale.reshape(shape) if scale.ndim == 1 else scale
    return scale * (data - zero)


@register("constexpr_cast")
def constexpr_cast(source_val, output_dtype="fp32"):
    return np.asarray(source_val).astype(np.float32)


def _repeat_blocks(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Each element of `values` covers a block of shape/values.shape elements of the result."""
    for axis, (size, blocks) in enumerate(zip(shape, values.shape)):
        if size != blocks:
            values = np.repeat(values, size // blocks, axis=axis)
    return values


@register("constexpr_blockwise_shift_scale")
def constexpr_blockwise_shift_scale(data, scale, offset=None):
    """scale · (data − offset), scale and offset of data's rank, each entry covering one block."""
    data = np.asarray(data).astype(np.float32)
    scale = _repeat_blocks(np.asarray(scale).astype(np.float32), data.shape)
    if offset is not None:
        data = data - _repeat_blocks(np.asarray(offset).astype(np.float32), data.shape)
    return scale * data


@register("constexpr_lut_to_dense")
def constexpr_lut_to_dense(indices, lut, shape=None, vector_axis=None):
    """iOS 16 (`shape` given): lut[i] for the packed indices, reshaped. iOS 18: indices has the output's
    rank; lut is [*blocks, 2^nbits, vector_size], each table covering one block of indices; a vector LUT
    writes vector_size consecutive elements along `vector_axis` per index."""
    lut = np.asarray(lut)
    if shape is not None:  # iOS 16
        shape = [int(s) for s in np.atleast_1d(shape)]
        nbits = int(np.log2(lut.size))
        ids = unpack_bits(indices, nbits, int(np.prod(shape)))
        return lut[ids].reshape(shape)
    ids = np.asarray(indices).astype(np.int64)
    rank = ids.ndim
    tables = lut.reshape(-1, *lut.shape[rank:])  # [n_tables, palettes, vector]
    block = [ids.shape[a] // lut.shape[a] for a in range(rank)]
    # Which table each index uses: its block coordinates, flattened in lut's block grid.
    coords = np.indices(ids.shape, sparse=False)
    table_of = np.ravel_multi_index(tuple(coords[a] // block[a] for a in range(rank)), lut.shape[:rank])
    values = tables[table_of, ids]  # [*ids.shape, vector]
    vector = lut.shape[-1]
    if vector == 1:
        return values[..., 0]
    axis = int(vector_axis) % rank
    values = np.moveaxis(values, -1, axis + 1)  # vector elements right after their index's axis
    out_shape = list(ids.shape)
    out_shape[axis] *= vector
    return values.reshape(out_shape)


@register("constexpr_sparse_to_dense")
def constexpr_sparse_to_dense(nonzero_data, mask, shape=None):
    """Zeros except where the mask is set, which take nonzero_data in row-major order. iOS 16: the mask
    is packed bits with a `shape`; iOS 18: the mask is a 0/1 tensor of the output's shape."""
    nonzero = np.asarray(nonzero_data)
    if shape is not None:
        shape = [int(s) for s in np.atleast_1d(shape)]
        bits = np.unpackbits(np.asarray(mask, dtype=np.uint8), bitorder="little")[: int(np.prod(shape))]
    else:
        shape = list(np.shape(mask))
        bits = np.asarray(mask).reshape(-1)
    out = np.zeros(int(np.prod(shape)), dtype=nonzero.dtype)
    out[bits.astype(bool)] = nonzero
    return out.reshape(shape)


@register("constexpr_lut_to_sparse")
def constexpr_lut_to_sparse(indices_mask, indices_nonzero_data, lut, vector_axis=None):
    """A palettized sparse tensor: (mask, nonzero values looked up in `lut`)."""
    mask = np.asarray(indices_mask)
    ids = np.asarray(indices_nonzero_data).astype(np.int64)
    dense_ids = np.zeros(mask.shape, dtype=np.int64)
    dense_ids[mask.astype(bool)] = ids
    dense = constexpr_lut_to_dense(dense_ids, lut, vector_axis=vector_axis)
    vector = np.asarray(lut).shape[-1]
    if vector > 1:  # the mask marks whole vectors
        dense_mask = np.repeat(mask, vector, axis=int(vector_axis) % mask.ndim)
    else:
        dense_mask = mask
    return dense_mask, dense[dense_mask.astype(bool)]


@register("constexpr_sparse_blockwise_shift_scale")
def constexpr_sparse_blockwise_shift_scale(data_mask, nonzero_data, scale, offset=None):
    """A quantized sparse tensor: (mask, dequantized nonzero values; scale/offset blocks over the dense shape)."""
    mask = np.asarray(data_mask)
    dense = np.zeros(mask.shape, dtype=np.float32)
    dense[mask.astype(bool)] = np.asarray(nonzero_data).astype(np.float32)
    scale = _repeat_blocks(np.asarray(scale).astype(np.float32), mask.shape)
    if offset is not None:
        dense = dense - _repeat_blocks(np.asarray(offset).astype(np.float32), mask.shape)
    return mask, (scale * dense)[mask.astype(bool)]
