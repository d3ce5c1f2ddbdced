"""Shared by ``make bench`` and ``make bench-accuracy``: seed, split, score, results folder."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

RESULTS = Path(__file__).parent / "results"
SEED = 0
TEST_SIZE = 0.25


def machine() -> str:
    """One line naming the machine the numbers were measured on."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def split_dataset(X, y, task: str, scale_features: bool = True):
    """Fixed 25% test split (stratified for classification), features optionally standardized on train.

    Regression targets are always standardized on the training split, so R² and the quantized output
    range do not depend on the units of ``y``.
    """
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=SEED, stratify=stratify
    )
    if scale_features:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if task == "regression":
        target_shape = y_train.shape[1:]
        target_scaler = StandardScaler().fit(y_train.reshape(len(y_train), -1))
        y_train, y_test = (
            target_scaler.transform(part.reshape(len(part), -1)).reshape(len(part), *target_shape)
            for part in (y_train, y_test)
        )
        y_train, y_test = y_train.astype(np.float32), y_test.astype(np.float32)
    return X_train, X_test, y_train, y_test


def score(task: str, y_true, y_pred) -> float:
    """Accuracy for classification; R² for regression, averaged over the outputs when there are several."""
    if task == "classification":
        return float(np.mean(y_true == y_pred))
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)  # float64 sums: no float32 drift
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(y_true.shape)
    residual = np.sum((y_true - y_pred) ** 2, axis=0)
    total = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    return float(np.mean(1.0 - residual / total))
