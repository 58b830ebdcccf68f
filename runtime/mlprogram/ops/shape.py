"""Shape and indexing ops: reshape, transpose, squeeze/expand_dims, concat/split/stack, tile, fill, shape,
slicing, gather/scatter, one_hot, pad, range_1d."""

from __future__ import annotations

import numpy as np

from . import register


def _ints(values) -> list[int]:
    return [int(v) for v in np.atleast_1d(values)]


@register("reshape")
def reshape(x, shape):
    """-1 is inferred; 0 copies x's dimension at the same position counted from the right (iOS 17), or 1
    where x has no such dimension."""
    target = _ints(shape)
    out = []
    for i, d in enumerate(target):
        if d == 0:
            j = x.ndim - (len(target) - i)
            d = x.shape[j] if j >= 0 else 1
        out.append(d)
    return np.reshape(x, out)


@register("transpose")
def transpose(x, perm):
    return np.transpose(x, _ints(perm))


@register("expand_dims")
def expand_dims(x, axes):
    """Negative axes count in the output's rank."""
    rank = np.ndim(x) + len(_ints(axes))
    return np.expand_dims(x, tuple(sorted(a % rank for a in _ints(axes))))


@register("squeeze")
def squeeze(x, axes=None):
    """Removes the given size-1 axes, or every size-1 axis when axes is None."""
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(a % np.ndim(x) for a in _ints(axes)))


@register("concat")
def concat(values, axis, interleave=False):
    """With interleave, the inputs (all the same shape) alternate one slice at a time along `axis`."""
    axis = int(axis)
    values = [np.atleast_1d(v) for v in values]  # scalars (e.g. one gathered dimension) join as length 1
    if not bool(interleave):
        return np.concatenate(values, axis=axis)
    axis %= values[0].ndim
    stacked = np.stack(values, axis=axis + 1)
    shape = list(values[0].shape)
    shape[axis] *= len(values)
    return stacked.reshape(shape)


@register("split")
def split(x, axis, num_splits=None, split_sizes=None):
    """Into `split_sizes` along `axis`, or into `num_splits` equal parts."""
    axis = int(axis)
    if split_sizes is not None:
        bounds = np.cumsum(_ints(split_sizes))[:-1]
        return tuple(np.split(x, bounds, axis=axis))
    chunk = -(-np.shape(x)[axis] // int(num_splits))  # ceil: the last part may be shorter
    return tuple(np.split(x, list(range(chunk, np.shape(x)[axis], chunk)), axis=axis))


@register("stack")
def stack(values, axis):
    return np.stack([np.asarray(v) for v in values], axis=int(axis))


@register("tile")
def tile(x, reps):
    return np.tile(x, _ints(reps))


@register("fill")
def fill(shape, value=0.0):
    return np.full(_ints(shape), value)


@register("fill_like")
def fill_like(ref_tensor, value=0.0):
    return np.full(np.shape(ref_tensor), value)


@register("shape")
def shape(x):
    return np.asarray(np.shape(x), dtype=np.int32)


@register("range_1d")
def range_1d(start, end, step):
    return np.arange(start, end, step)


@register("slice_by_index")
def slice_by_index(x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    """x[begin:end:stride] per axis (numpy rules for negative indices and strides); a masked begin or end
    is open; a squeezed axis takes the single index `begin` and is removed."""
    rank = np.ndim(x)
    begin, end = _ints(begin), _ints(end)
    stride = _ints(stride) if stride is not None else [1] * rank
    begin_mask = np.atleast_1d(begin_mask) if begin_mask is not None else [False] * rank
    end_mask = np.atleast_1d(end_mask) if end_mask is not None else [False] * rank
    squeeze_mask = np.atleast_1d(squeeze_mask) if squeeze_mask is not None else [False] * rank
    index = []
    for a in range(rank):
        if squeeze_mask[a]:
            index.append(begin[a])
        else:
            index.append(slice(None if begin_mask[a] else begin[a], None if end_mask[a] else end[a], stride[a]))
    return np.asarray(x[tuple(index)])


@register("slice_by_size")
def slice_by_size(x, begin, size):
    """x[begin : begin + size] per axis; size −1 reads to the end."""
    index = tuple(slice(b, None if s == -1 else b + s) for b, s in zip(_ints(begin), _ints(size)))
    return x[index]


@register("gather")
def gather(x, indices, axis=0, batch_dims=0, validate_indices=False):
    """Takes `indices` along `axis`; the first `batch_dims` axes of x and indices are matched, not
    gathered over. Negative indices count from the end (iOS 17)."""
    axis = int(axis) % np.ndim(x)
    batch_dims = int(batch_dims)
    indices = np.asarray(indices).astype(np.int64)
    size = np.shape(x)[axis]
    if bool(validate_indices) and np.any((indices < -size) | (indices >= size)):
        raise IndexError(f"gather indices outside [-{size}, {size})")
    indices = np.where(indices < 0, indices + size, indices)
    if batch_dims == 0:
        return np.take(x, indices, axis=axis)
    batch = np.shape(x)[:batch_dims]
    xs = np.reshape(x, (-1, *np.shape(x)[batch_dims:]))
    ids = np.reshape(indices, (-1, *indices.shape[batch_dims:]))
    parts = [np.take(xs[b], ids[b], axis=axis - batch_dims) for b in range(xs.shape[0])]
    return np.stack(parts).reshape(*batch, *parts[0].shape)


@register("gather_along_axis")
def gather_along_axis(x, indices, axis=0, validate_indices=False):
    axis = int(axis) % np.ndim(x)
    indices = np.asarray(indices).astype(np.int64)
    indices = np.where(indices < 0, indices + np.shape(x)[axis], indices)
    return np.take_along_axis(x, indices, axis=axis)


_SCATTER_MODES = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "max": np.maximum,
    "min": np.minimum,
}


@register("scatter")
def scatter(data, indices, updates, axis=0, mode="add", validate_indices=False):
    """output = data, then for each i: output[..., indices[i], ...] = updates[..., i, ...] ("update") or
    output[..., indices[i], ...] ∘= updates[..., i, ...] for the arithmetic modes; indices is 1-D along
    `axis`. Repeated indices: "update" keeps the last, the others apply every update (unbuffered)."""
    axis = int(axis) % np.ndim(data)
    indices = np.asarray(indices).astype(np.int64).reshape(-1)
    size = np.shape(data)[axis]
    if np.any((indices < 0) | (indices >= size)):
        raise IndexError(f"scatter indices outside [0, {size}) (iOS 17 scatter takes no negative indices)")
    out = np.array(data, copy=True)
    moved = np.moveaxis(out, axis, 0)  # a view: writes land in `out`
    upd = np.moveaxis(np.asarray(updates), axis, 0)
    mode = str(mode)
    if mode == "update":
        moved[indices] = upd
    elif mode in _SCATTER_MODES:
        _SCATTER_MODES[mode].at(moved, indices, upd)
    else:
        raise ValueError(f"scatter mode {mode!r} is not one of update, {', '.join(_SCATTER_MODES)}")
    return out


@register("one_hot")
def one_hot(indices, one_hot_vector_size, axis=-1, on_value=1, off_value=0):
    """A new axis of size `one_hot_vector_size` at `axis` (counted in the output's rank): on_value where
    the position equals the index, off_value elsewhere (out-of-range indices give all off)."""
    indices = np.asarray(indices).astype(np.int64)
    depth = int(one_hot_vector_size)
    hot = indices[..., None] == np.arange(depth)
    hot = np.moveaxis(hot, -1, int(axis) % (indices.ndim + 1))
    return np.where(hot, on_value, off_value)


@register("pad")
def pad(x, pad, mode="constant", constant_val=0.0):
    """pad = [before, after] pairs for the last len(pad)/2 axes; modes constant, reflect, replicate."""
    values = _ints(pad)
    pairs = [(values[2 * i], values[2 * i + 1]) for i in range(len(values) // 2)]
    widths = [(0, 0)] * (np.ndim(x) - len(pairs)) + pairs
    mode = str(mode)
    if mode == "constant":
        return np.pad(x, widths, constant_values=constant_val)
    if mode == "reflect":
        return np.pad(x, widths, mode="reflect")
    if mode == "replicate":
        return np.pad(x, widths, mode="edge")
    raise ValueError(f"pad mode {mode!r} is not one of constant, reflect, replicate")
