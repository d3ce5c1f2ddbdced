"""Whether the network reads folded inputs: what they add to a linear model on the validation split.

Folded inputs (``veil.qat._client_inputs``) give each neuron a feature's distance from its centre for
free under encryption, but they also double the inputs a neuron's small accumulator budget chooses
among. They pay on data with even, per-feature effects (radial classes, a squared term) and cost accuracy
where the target is a sum of many plain features: measured in docs/decisions/folded-inputs.md. A linear
model tells the two apart in a few seconds at most: it can use ``|z|`` only where such effects exist.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

__all__ = ["FOLD_MIN_GAIN", "FOLD_MIN_ROWS", "choose_folding", "linear_scores"]

#: Folded inputs are used when they raise a linear model's validation score (accuracy or R²) by this much,
#: and by at least what this many validation rows make (``FOLD_MIN_ROWS / n_validation``): on small
#: splits a real linear gain did not carry over to the network.
FOLD_MIN_GAIN = 0.1
FOLD_MIN_ROWS = 10
#: The linear models train on at most this many rows (the split is shuffled already).
PROBE_MAX_ROWS = 5000


def choose_folding(
    user_value: bool | None, split, is_classifier: bool, normalization, clip: float
) -> tuple[bool, dict | None]:
    """``(folded_inputs, report)``: the user's value if set, else the linear models' verdict on ``split``.

    ``split`` is ``(X_fit, X_val, y_fit, y_val)`` or None (too few rows to measure: not folded, as with
    a single class);
    ``normalization`` is ``(offset, scale, fold_offset, fold_scale)``; the normalized features are clipped
    to ±``clip``, as the network's input quantizer clips them. ``report`` holds the verdict, both
    scores and the gain it needed (None when the user set the value or nothing was measured).
    """
    if user_value is not None:
        return user_value, None
    if split is None or (is_classifier and len(np.unique(split[2])) < 2):
        return False, None
    plain, folded = linear_scores(split, is_classifier, normalization, clip)
    needed = max(FOLD_MIN_GAIN, FOLD_MIN_ROWS / len(split[1]))
    chosen = folded - plain >= needed
    return chosen, {
        "folded_inputs": chosen,
        "linear_score": plain,
        "folded_linear_score": folded,
        "min_gain": needed,
    }


def linear_scores(split, is_classifier: bool, normalization, clip: float) -> tuple[float, float]:
    """Validation score of a linear model (logistic or ridge regression) on the normalized features, and
    on them plus their folded twins."""
    X_fit, X_val, y_fit, y_val = split
    rows = slice(PROBE_MAX_ROWS)
    if is_classifier and len(np.unique(y_fit[rows])) < len(np.unique(y_fit)):
        rows = slice(None)  # a rare class must reach the logistic regression
    X_fit, y_fit = X_fit[rows], y_fit[rows]
    scores = []
    for folded in (False, True):
        model = LogisticRegression(max_iter=500) if is_classifier else Ridge(alpha=1.0)
        with warnings.catch_warnings():  # a probe's unfinished convergence is not the user's concern
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(_features(X_fit, normalization, folded, clip), y_fit)
        scores.append(float(model.score(_features(X_val, normalization, folded, clip), y_val)))
    return scores[0], scores[1]


def _features(X: np.ndarray, normalization, folded: bool, clip: float) -> np.ndarray:
    offset, scale, fold_offset, fold_scale = normalization
    z = np.clip((np.asarray(X, dtype=np.float64) - offset) / scale, -clip, clip)
    return np.hstack([z, (np.abs(z) - fold_offset) / fold_scale]) if folded else z
