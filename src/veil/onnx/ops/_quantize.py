"""Affine quantization: QuantizeLinear and DequantizeLinear (per tensor or per axis)."""

from __future__ import annotations

import numpy as np
from onnx import helper

from ._common import normalize_axis, unsupported

_INTEGER_KINDS = ("i", "u")


def _along_axis(parameter: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """Shape a scale or zero point so it broadcasts per tensor (scalar) or along ``axis`` (1-D)."""
    parameter = np.asarray(parameter)
    if parameter.size == 1:
        return parameter.reshape(())
    shape = [1] * rank
    shape[normalize_axis(axis, rank)] = -1
    return parameter.reshape(shape)


def _check_not_blocked(op_type: str, block_size: int) -> None:
    """Refuse blocked quantization (opset 21), which Veil does not evaluate."""
    if block_size:
        raise unsupported(op_type, "block_size", block_size, "0 (per tensor or per axis)")


def quantize_linear(
    x: np.ndarray,
    y_scale: np.ndarray,
    y_zero_point: np.ndarray | None = None,
    *,
    axis: int = 1,
    saturate: int = 1,
    block_size: int = 0,
    output_dtype: int = 0,
) -> np.ndarray:
    """``saturate(round_half_to_even(x / y_scale) + y_zero_point)`` in the zero point's integer type."""
    del saturate  # only affects float8 outputs, which are refused below
    _check_not_blocked("QuantizeLinear", block_size)
    if y_zero_point is not None:
        dtype = np.asarray(y_zero_point).dtype
    else:
        dtype = helper.tensor_dtype_to_np_dtype(output_dtype) if output_dtype else np.dtype(np.uint8)
    if dtype.kind not in _INTEGER_KINDS:
        raise unsupported("QuantizeLinear", "zero point dtype", str(dtype), "integer types")
    zero_point = 0 if y_zero_point is None else _along_axis(y_zero_point, x.ndim, axis).astype(np.int64)
    rounded = np.rint(x / _along_axis(y_scale, x.ndim, axis))
    bounds = np.iinfo(dtype)
    # Saturate while still in floats (integer-valued, so exact) so huge values cannot wrap around.
    return np.clip(rounded + zero_point, bounds.min, bounds.max).astype(dtype)


def dequantize_linear(
    x: np.ndarray,
    x_scale: np.ndarray,
    x_zero_point: np.ndarray | None = None,
    *,
    axis: int = 1,
    block_size: int = 0,
    output_dtype: int = 0,
) -> np.ndarray:
    """``(x - x_zero_point) * x_scale``, in the scale's float type."""
    _check_not_blocked("DequantizeLinear", block_size)
    if output_dtype:
        raise unsupported("DequantizeLinear", "output_dtype", output_dtype, "0 (the scale's type)")
    scale = _along_axis(x_scale, x.ndim, axis)
    zero_point = 0 if x_zero_point is None else _along_axis(x_zero_point, x.ndim, axis)
    if x.dtype.kind in _INTEGER_KINDS:
        # Subtract in int64 so that e.g. uint8 - uint8 cannot wrap; the difference is exact in floats.
        centered = (x.astype(np.int64) - np.asarray(zero_point, dtype=np.int64)).astype(scale.dtype)
    else:
        centered = x - zero_point
    return centered * scale
