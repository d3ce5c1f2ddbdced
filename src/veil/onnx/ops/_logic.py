"""Comparisons, boolean logic and selection."""

from __future__ import annotations

import numpy as np


def equal(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Elementwise ``A == B`` as booleans."""
    return np.equal(A, B)


def greater(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Elementwise ``A > B`` as booleans."""
    return np.greater(A, B)


def less(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Elementwise ``A < B`` as booleans."""
    return np.less(A, B)


def not_(X: np.ndarray) -> np.ndarray:
    """Elementwise logical negation."""
    return np.logical_not(X)


def where(condition: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Pick ``X`` where ``condition`` holds and ``Y`` elsewhere, with broadcasting."""
    return np.where(condition, X, Y)
