"""Inference-time normalization and regularization layers."""

from __future__ import annotations

import numpy as np

from ._common import unsupported


def batch_normalization(
    X: np.ndarray,
    scale: np.ndarray,
    B: np.ndarray,
    input_mean: np.ndarray,
    input_var: np.ndarray,
    *,
    epsilon: float = 1e-5,
    momentum: float = 0.9,
    training_mode: int = 0,
    spatial: int = 1,
) -> np.ndarray:
    """Normalize ``X`` along its channel axis (axis 1) with the stored running statistics."""
    del momentum  # only used to update running statistics during training
    if training_mode:
        raise unsupported("BatchNormalization", "training_mode", training_mode, "0 (inference)")
    if not spatial:
        raise unsupported("BatchNormalization", "spatial", spatial, "1")
    channel_shape = (1, -1) + (1,) * (X.ndim - 2)

    def per_channel(values: np.ndarray) -> np.ndarray:
        return values.reshape(channel_shape)

    inverse_std = 1 / np.sqrt(per_channel(input_var) + epsilon)
    return (X - per_channel(input_mean)) * (per_channel(scale) * inverse_std) + per_channel(B)


def dropout(
    data: np.ndarray,
    ratio: np.ndarray | float | None = None,
    training_mode: np.ndarray | None = None,
    *,
    seed: int | None = None,
    is_test: int = 1,
) -> np.ndarray:
    """Inference dropout: the identity. Training mode is refused."""
    # Veil only runs inference; opsets < 7 default ``is_test`` to 0 but exporters mean inference.
    del ratio, seed, is_test
    if training_mode is not None and bool(training_mode):
        raise unsupported("Dropout", "training_mode", True, "inference only")
    return data
