"""Sliding-window ops: Conv, AveragePool, MaxPool, GlobalAveragePool, and Pad."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from ._common import as_int_list, unsupported

_PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _check_window_attributes(op_type: str, auto_pad: str, ceil_mode: int = 0) -> None:
    if auto_pad not in ("NOTSET", "VALID"):
        raise unsupported(op_type, "auto_pad", auto_pad, "NOTSET with explicit pads, VALID")
    if ceil_mode:
        raise unsupported(op_type, "ceil_mode", ceil_mode, "0")


def _windows(
    X: np.ndarray, kernel_shape, strides, pads, dilations, fill: float
) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """For each kernel offset, the slice of the padded input that this offset sees: shape (N, C, *out)."""
    spatial = len(kernel_shape)
    strides = as_int_list(strides) or [1] * spatial
    dilations = as_int_list(dilations) or [1] * spatial
    pads = as_int_list(pads) or [0] * (2 * spatial)
    widths = [(0, 0), (0, 0), *zip(pads[:spatial], pads[spatial:], strict=True)]
    padded = np.pad(X, widths, constant_values=fill)
    out = [
        (padded.shape[2 + i] - dilations[i] * (kernel_shape[i] - 1) - 1) // strides[i] + 1
        for i in range(spatial)
    ]
    for offset in itertools.product(*(range(k) for k in kernel_shape)):
        index = tuple(
            slice(o * d, o * d + s * (n - 1) + 1, s)
            for o, d, s, n in zip(offset, dilations, strides, out, strict=True)
        )
        yield offset, padded[(slice(None), slice(None), *index)]


def conv(
    X: np.ndarray,
    W: np.ndarray,
    B: np.ndarray | None = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: list[int] | None = None,
    group: int = 1,
    kernel_shape: list[int] | None = None,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> np.ndarray:
    """N-d convolution (cross-correlation) with groups; ``W`` has shape (F, C / group, *kernel)."""
    _check_window_attributes("Conv", auto_pad)
    del kernel_shape  # always W.shape[2:]
    n_rows, channels = X.shape[:2]
    filters = W.shape[0]
    result = None
    # Summing in float64 keeps integer-valued inputs exact and float32 inputs as close as onnxruntime.
    for offset, view in _windows(X.astype(np.float64), W.shape[2:], strides, pads, dilations, 0.0):
        grouped = view.reshape(n_rows, group, channels // group, *view.shape[2:])
        kernel = W[(slice(None), slice(None), *offset)].reshape(group, filters // group, channels // group)
        kernel = kernel.astype(np.float64)
        term = np.einsum("ngc...,gfc->ngf...", grouped, kernel).reshape(n_rows, filters, *view.shape[2:])
        result = term if result is None else result + term
    if B is not None:
        result = result + B.reshape(1, -1, *[1] * (X.ndim - 2))
    return result.astype(np.result_type(X, W), copy=False)


def average_pool(
    X: np.ndarray,
    *,
    kernel_shape: list[int],
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    count_include_pad: int = 0,
    dilations: list[int] | None = None,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> np.ndarray:
    """Window means; padded positions count in the divisor only with ``count_include_pad``."""
    _check_window_attributes("AveragePool", auto_pad, ceil_mode)
    windows = list(_windows(X, kernel_shape, strides, pads, dilations, 0.0))
    total = sum(view for _, view in windows)
    if count_include_pad:
        return (total / math.prod(kernel_shape)).astype(X.dtype, copy=False)
    ones = np.ones((1, 1, *X.shape[2:]), dtype=X.dtype)
    counts = sum(view for _, view in _windows(ones, kernel_shape, strides, pads, dilations, 0.0))
    return (total / counts).astype(X.dtype, copy=False)


def max_pool(
    X: np.ndarray,
    *,
    kernel_shape: list[int],
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    dilations: list[int] | None = None,
    pads: list[int] | None = None,
    storage_order: int = 0,
    strides: list[int] | None = None,
) -> np.ndarray:
    """Window maxima (padding never wins)."""
    _check_window_attributes("MaxPool", auto_pad, ceil_mode)
    del storage_order  # only affects the optional Indices output
    views = [view for _, view in _windows(X, kernel_shape, strides, pads, dilations, -np.inf)]
    return np.maximum.reduce(views).astype(X.dtype, copy=False)


def global_average_pool(X: np.ndarray) -> np.ndarray:
    """Mean over every spatial axis, kept as size-1 axes."""
    return np.mean(X, axis=tuple(range(2, X.ndim)), keepdims=True, dtype=X.dtype)


def pad(
    data: np.ndarray,
    pads: np.ndarray,
    constant_value: np.ndarray | None = None,
    axes: np.ndarray | None = None,
    *,
    mode: str = "constant",
) -> np.ndarray:
    """Pad each axis by ``pads`` (all begins, then all ends); negative pads crop."""
    if mode not in _PAD_MODES:
        raise unsupported("Pad", "mode", mode, ", ".join(_PAD_MODES))
    amounts = as_int_list(pads)
    axes = as_int_list(axes) if axes is not None else list(range(data.ndim))
    axes = [a + data.ndim if a < 0 else a for a in axes]
    widths = [(0, 0)] * data.ndim
    for i, axis in enumerate(axes):
        widths[axis] = (amounts[i], amounts[i + len(axes)])
    crop = tuple(slice(max(0, -b), data.shape[a] - max(0, -e)) for a, (b, e) in enumerate(widths))
    data = data[crop]
    widths = [(max(0, b), max(0, e)) for b, e in widths]
    if mode != "constant":
        return np.pad(data, widths, mode=mode)
    fill = 0 if constant_value is None else np.asarray(constant_value).reshape(-1)[0]
    return np.pad(data, widths, constant_values=fill)
