"""Elementwise arithmetic, rounding and variadic reductions."""

from __future__ import annotations

import functools

import numpy as np
import scipy.special

from ._common import as_int_list


def add(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Elementwise ``A + B`` with broadcasting."""
    return np.add(A, B)


def sub(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Elementwise ``A - B`` with broadcasting."""
    return np.subtract(A, B)


def mul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Elementwise ``A * B`` with broadcasting."""
    return np.multiply(A, B)


def div(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Elementwise ``A / B``; integer division truncates toward zero as in C."""
    if np.issubdtype(A.dtype, np.integer) and np.issubdtype(B.dtype, np.integer):
        floored = np.floor_divide(A, B)
        # floor_divide rounds toward -inf: step back by one where the exact quotient was negative.
        inexact_negative = (np.remainder(A, B) != 0) & ((A < 0) != (B < 0))
        return (floored + inexact_negative).astype(A.dtype)
    return np.divide(A, B)


def neg(X: np.ndarray) -> np.ndarray:
    """Elementwise ``-X``."""
    return np.negative(X)


def abs_(X: np.ndarray) -> np.ndarray:
    """Elementwise absolute value."""
    return np.abs(X)


def exp(X: np.ndarray) -> np.ndarray:
    """Elementwise exponential."""
    return np.exp(X)


def log(X: np.ndarray) -> np.ndarray:
    """Elementwise natural logarithm."""
    return np.log(X)


def pow_(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Elementwise ``X ** Y``; the result keeps the dtype of ``X`` as ONNX specifies."""
    return np.power(X, Y).astype(X.dtype, copy=False)


def sqrt(X: np.ndarray) -> np.ndarray:
    """Elementwise square root."""
    return np.sqrt(X)


def reciprocal(X: np.ndarray) -> np.ndarray:
    """Elementwise ``1 / X``."""
    return np.reciprocal(X)


def erf(X: np.ndarray) -> np.ndarray:
    """Elementwise Gauss error function."""
    return scipy.special.erf(X).astype(X.dtype, copy=False)


def floor(X: np.ndarray) -> np.ndarray:
    """Elementwise floor."""
    return np.floor(X)


def ceil(X: np.ndarray) -> np.ndarray:
    """Elementwise ceiling."""
    return np.ceil(X)


def round_(X: np.ndarray) -> np.ndarray:
    """Elementwise rounding, halves to the nearest even integer."""
    return np.round(X)


def sign(X: np.ndarray) -> np.ndarray:
    """Elementwise sign (-1, 0 or 1)."""
    return np.sign(X)


def max_(*data: np.ndarray) -> np.ndarray:
    """Elementwise maximum of any number of broadcastable inputs."""
    return functools.reduce(np.maximum, data)


def min_(*data: np.ndarray) -> np.ndarray:
    """Elementwise minimum of any number of broadcastable inputs."""
    return functools.reduce(np.minimum, data)


def sum_(*data: np.ndarray) -> np.ndarray:
    """Elementwise sum of any number of broadcastable inputs."""
    return functools.reduce(np.add, data)


def reduce_sum(
    data: np.ndarray,
    axes: np.ndarray | list[int] | None = None,
    *,
    keepdims: int = 1,
    noop_with_empty_axes: int = 0,
) -> np.ndarray:
    """Sum over ``axes`` (input in opset 13+, attribute before); no axes: all of them, or none if asked."""
    axes = as_int_list(axes)
    if not axes:
        if noop_with_empty_axes:
            return data
        axes = list(range(data.ndim))
    return np.sum(data, axis=tuple(axes), keepdims=bool(keepdims)).astype(data.dtype, copy=False)


def clip(
    X: np.ndarray,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    *,
    min: float | None = None,
    max: float | None = None,
) -> np.ndarray:
    """Clamp ``X`` to ``[low, high]``; bounds come as inputs (opset 11+) or attributes (older)."""
    low = min if low is None else low
    high = max if high is None else high
    result = X
    if low is not None:
        result = np.maximum(result, np.asarray(low, dtype=X.dtype))
    if high is not None:
        result = np.minimum(result, np.asarray(high, dtype=X.dtype))
    return result
