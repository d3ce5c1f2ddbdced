"""What a model's decoded outputs mean: a classifier's probabilities and labels, a regressor's values.

Defined once, for the estimators (``predict``, ``predict_proba``) and for the deployment client, which
decrypts the same outputs on another machine and must answer exactly what the estimator would.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

__all__ = ["class_labels", "class_probabilities", "regression_values"]


def class_probabilities(logits: np.ndarray) -> np.ndarray:
    """The softmax of each row of logits, shape (n_rows, n_classes)."""
    return softmax(logits, axis=1)


def class_labels(logits: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The label of each row's largest logit (the largest probability too: softmax keeps the order)."""
    return np.asarray(classes)[np.argmax(logits, axis=1)]


def regression_values(outputs: np.ndarray) -> np.ndarray:
    """Predicted targets: shape (n_rows,) for a single target, as scikit-learn's regressors return them."""
    return outputs[:, 0] if outputs.shape[1] == 1 else outputs
