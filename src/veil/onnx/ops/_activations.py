"""Elementwise activation functions and the softmax family."""

from __future__ import annotations

import math

import numpy as np
import scipy.special

from ._common import unsupported


def relu(X: np.ndarray) -> np.ndarray:
    """Rectified linear unit ``max(X, 0)``."""
    return np.maximum(X, 0)


def leaky_relu(X: np.ndarray, *, alpha: float = 0.01) -> np.ndarray:
    """``X`` where positive, ``alpha * X`` elsewhere."""
    return np.where(X >= 0, X, alpha * X)


def prelu(X: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Leaky ReLU whose negative slope is a tensor broadcast against ``X``."""
    return np.where(X >= 0, X, slope * X)


def thresholded_relu(X: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """``X`` where ``X > alpha``, zero elsewhere."""
    return np.where(alpha < X, X, 0).astype(X.dtype, copy=False)


def _exp_minus_one_of_negative_part(X: np.ndarray) -> np.ndarray:
    """``exp(min(X, 0)) - 1``, which never overflows for large positive ``X``."""
    return np.expm1(np.minimum(X, 0))


def elu(X: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """Exponential linear unit: ``X`` where positive, ``alpha * (exp(X) - 1)`` elsewhere."""
    return np.where(X > 0, X, alpha * _exp_minus_one_of_negative_part(X))


def selu(
    X: np.ndarray,
    *,
    alpha: float = 1.67326319217681884765625,
    gamma: float = 1.05070102214813232421875,
) -> np.ndarray:
    """Scaled ELU: ``gamma * elu(X, alpha)``."""
    return gamma * np.where(X > 0, X, alpha * _exp_minus_one_of_negative_part(X))


def celu(X: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """Continuously differentiable ELU: ``max(0, X) + min(0, alpha * (exp(X / alpha) - 1))``."""
    return np.maximum(X, 0) + alpha * _exp_minus_one_of_negative_part(X / alpha)


def sigmoid(X: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-X))``, computed without overflow."""
    exp_minus_abs = np.exp(-np.abs(X))
    return np.where(X >= 0, 1 / (1 + exp_minus_abs), exp_minus_abs / (1 + exp_minus_abs))


def hard_sigmoid(X: np.ndarray, *, alpha: float = 0.2, beta: float = 0.5) -> np.ndarray:
    """Piecewise-linear sigmoid ``clip(alpha * X + beta, 0, 1)``."""
    return np.clip(alpha * X + beta, 0, 1)


def hard_swish(X: np.ndarray) -> np.ndarray:
    """``X * hard_sigmoid(X)`` with ``alpha = 1/6`` and ``beta = 0.5``."""
    return X * np.clip(X / 6 + 0.5, 0, 1)


def tanh(X: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(X)


def softplus(X: np.ndarray) -> np.ndarray:
    """``log(1 + exp(X))``, computed without overflow."""
    return np.logaddexp(X, 0)


def softsign(X: np.ndarray) -> np.ndarray:
    """``X / (1 + |X|)``."""
    return X / (1 + np.abs(X))


def mish(X: np.ndarray) -> np.ndarray:
    """``X * tanh(softplus(X))``."""
    return X * np.tanh(np.logaddexp(X, 0))


def gelu(X: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    """Gaussian error linear unit, exact (``erf``) or with the ``tanh`` approximation."""
    if approximate == "none":
        gaussian_cdf = 0.5 * (1 + scipy.special.erf(X / math.sqrt(2)))
    elif approximate == "tanh":
        gaussian_cdf = 0.5 * (1 + np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X**3)))
    else:
        raise unsupported("Gelu", "approximate", approximate, "'none', 'tanh'")
    return (X * gaussian_cdf).astype(X.dtype, copy=False)


def softmax(X: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Normalized exponentials along ``axis`` (opset 13+ semantics)."""
    exp_shifted = np.exp(X - np.max(X, axis=axis, keepdims=True))
    return exp_shifted / np.sum(exp_shifted, axis=axis, keepdims=True)


def log_softmax(X: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Logarithm of softmax along ``axis`` (opset 13+ semantics)."""
    shifted = X - np.max(X, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
