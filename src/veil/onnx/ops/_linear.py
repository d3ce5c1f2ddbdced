"""Matrix products: Gemm and MatMul."""

from __future__ import annotations

import numpy as np


def gemm(
    A: np.ndarray,
    B: np.ndarray,
    C: np.ndarray | None = None,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    transA: int = 0,
    transB: int = 0,
) -> np.ndarray:
    """Compute ``alpha * A' @ B' + beta * C`` where ``'`` is an optional transpose."""
    A = A.T if transA else A
    B = B.T if transB else B
    result = A @ B
    # Skipping multiplications by exactly one keeps integer-valued inputs exact.
    if alpha != 1.0:
        result = alpha * result
    if C is not None:
        result = result + (C if beta == 1.0 else beta * C)
    return result


def matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Matrix product with numpy broadcasting over leading dimensions."""
    return np.matmul(A, B)
