"""Shape manipulation, indexing, constants and type casts."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from ._common import as_int_list, normalize_axis, unsupported

_CASTABLE_TYPES = {
    TensorProto.FLOAT,
    TensorProto.DOUBLE,
    TensorProto.FLOAT16,
    TensorProto.BOOL,
    TensorProto.INT8,
    TensorProto.INT16,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.UINT8,
    TensorProto.UINT16,
    TensorProto.UINT32,
    TensorProto.UINT64,
}


def identity(data: np.ndarray) -> np.ndarray:
    """Return the input unchanged."""
    return data


def reshape(data: np.ndarray, shape: np.ndarray, *, allowzero: int = 0) -> np.ndarray:
    """Reshape; a 0 in ``shape`` copies the input dimension unless ``allowzero`` is set."""
    new_shape = as_int_list(shape)
    if not allowzero:
        new_shape = [data.shape[i] if dim == 0 else dim for i, dim in enumerate(new_shape)]
    return np.reshape(data, new_shape)


def flatten(data: np.ndarray, *, axis: int = 1) -> np.ndarray:
    """Collapse dimensions before and from ``axis`` into a 2-D matrix."""
    axis = normalize_axis(axis, data.ndim)
    return np.reshape(data, (int(np.prod(data.shape[:axis])), int(np.prod(data.shape[axis:]))))


def transpose(data: np.ndarray, *, perm: list[int] | None = None) -> np.ndarray:
    """Permute the axes; without ``perm`` reverse them."""
    return np.transpose(data, perm)


def concat(*inputs: np.ndarray, axis: int) -> np.ndarray:
    """Join the inputs along ``axis``."""
    return np.concatenate(inputs, axis=axis)


def squeeze(data: np.ndarray, axes: np.ndarray | list[int] | None = None) -> np.ndarray:
    """Drop size-1 axes: the listed ones (input in opset 13+, attribute before) or all of them."""
    if axes is None:
        return np.squeeze(data)
    return np.squeeze(data, axis=tuple(as_int_list(axes)))


def unsqueeze(data: np.ndarray, axes: np.ndarray | list[int]) -> np.ndarray:
    """Insert size-1 axes at ``axes``, counted in the output's rank (input in opset 13+)."""
    axes = as_int_list(axes)
    return np.expand_dims(data, axis=tuple(normalize_axis(a, data.ndim + len(axes)) for a in axes))


def shape(data: np.ndarray, *, start: int = 0, end: int | None = None) -> np.ndarray:
    """The input's shape as an int64 vector, optionally sliced to ``[start:end]``."""
    return np.array(data.shape[start:end], dtype=np.int64)


def gather(data: np.ndarray, indices: np.ndarray, *, axis: int = 0) -> np.ndarray:
    """Take entries along ``axis`` at ``indices`` (negative indices count from the end)."""
    return np.asarray(np.take(data, indices.astype(np.int64), axis=axis))


def slice_(
    data: np.ndarray,
    starts: np.ndarray | list[int],
    ends: np.ndarray | list[int],
    axes: np.ndarray | list[int] | None = None,
    steps: np.ndarray | list[int] | None = None,
) -> np.ndarray:
    """Strided slice; bounds come as inputs (opset 10+) or attributes (older) and are clamped."""
    starts, ends = as_int_list(starts), as_int_list(ends)
    axes = as_int_list(axes) if axes is not None else list(range(len(starts)))
    steps = as_int_list(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        index[normalize_axis(axis, data.ndim)] = slice(start, end, step)
    return data[tuple(index)]


def constant(
    *,
    value: np.ndarray | None = None,
    value_float: float | None = None,
    value_floats: list[float] | None = None,
    value_int: int | None = None,
    value_ints: list[int] | None = None,
) -> np.ndarray:
    """The constant tensor held by whichever ``value*`` attribute is set."""
    if value is not None:
        return np.asarray(value)
    if value_float is not None:
        return np.array(value_float, dtype=np.float32)
    if value_floats is not None:
        return np.array(value_floats, dtype=np.float32)
    if value_int is not None:
        return np.array(value_int, dtype=np.int64)
    if value_ints is not None:
        return np.array(value_ints, dtype=np.int64)
    raise unsupported("Constant", "value", None, "value, value_float(s), value_int(s)")


def constant_of_shape(data: np.ndarray, *, value: np.ndarray | None = None) -> np.ndarray:
    """A tensor of the given shape filled with the one-element ``value`` (default float32 0)."""
    fill = np.zeros(1, dtype=np.float32) if value is None else np.asarray(value)
    return np.full(as_int_list(data), fill.reshape(-1)[0], dtype=fill.dtype)


def expand(data: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Broadcast ``data`` against ``shape`` (both ways, as numpy broadcasting does)."""
    target = np.broadcast_shapes(data.shape, tuple(as_int_list(shape)))
    return np.broadcast_to(data, target).copy()


def cast(data: np.ndarray, *, to: int, saturate: int = 1) -> np.ndarray:
    """Convert to the ONNX element type ``to``; float to int truncates toward zero."""
    del saturate  # only affects float8 targets, which are refused below
    if to not in _CASTABLE_TYPES:
        raise unsupported("Cast", "to", TensorProto.DataType.Name(to), "standard numeric and bool types")
    return data.astype(helper.tensor_dtype_to_np_dtype(to))
