"""The estimators' parameters: their constraint table, and the defaults that depend on the data.

Every constructor parameter has one row here; the ``module__*`` rows come from the network's own table
(``veil.qat.NETWORK_CONSTRAINTS``). ``fit`` checks them all once, with scikit-learn's message template.
The defaults that depend on the data (batch size, input normalization, the capacity the search may choose
from) are resolved by :func:`resolve_training` and reported on the fitted estimator, never written back
into a parameter.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from veil._warnings import user_stacklevel
from veil.qat import NETWORK_CONSTRAINTS
from veil.qat._defaults import ACTIVATION_STATS_STEPS
from veil.qat._params import MAX_QUANT_BITS, MIN_QUANT_BITS, IntegerInterval, ModuleClass

__all__ = [
    "ESTIMATOR_CONSTRAINTS",
    "TrainingPlan",
    "client_normalization",
    "input_normalization",
    "resolve_training",
]

# A training epoch runs at most this many optimizer steps: past ~1,000 rows the batch grows instead, so
# that fit time stops growing with the number of rows while 50 epochs still give the 2-bit weights a few
# thousand steps (and the quantizers far more than their 300 statistics steps).
MAX_STEPS_PER_EPOCH = 64
MIN_BATCH_SIZE = 16
# On small data the batch shrinks (down to SMALL_DATA_MIN_BATCH_SIZE) until training has MIN_TRAINING_STEPS:
# the quantizers collect statistics for 300 steps, then need as many to learn their scales. Counted on
# the rows a capacity-search candidate trains on (VALIDATION_FRACTION held out).
MIN_TRAINING_STEPS = 2 * ACTIVATION_STATS_STEPS
SMALL_DATA_MIN_BATCH_SIZE = 4
#: Share of the rows the capacity search holds out to validate its candidates.
VALIDATION_FRACTION = 0.2


class TorchClass(ModuleClass):
    """A subclass of ``base`` (a torch loss or optimizer class, instantiated by skorch)."""

    def __init__(self, base: type, example: str) -> None:
        super().__init__()
        self.base, self.example = base, example

    def is_satisfied_by(self, val) -> bool:
        return isinstance(val, type) and issubclass(val, self.base)

    def __str__(self) -> str:
        return f"a {self.base.__module__}.{self.base.__name__} subclass such as {self.example}"


class CallbackList(ModuleClass):
    """A list of skorch callbacks: instances, or ``(name, instance)`` pairs."""

    def is_satisfied_by(self, val) -> bool:
        from skorch.callbacks import Callback

        if not isinstance(val, list | tuple):
            return False
        items = [item[1] if isinstance(item, tuple) and len(item) == 2 else item for item in val]
        return all(
            isinstance(item, Callback) or (isinstance(item, type) and issubclass(item, Callback))
            for item in items
        )

    def __str__(self) -> str:
        return (
            "a list of skorch callbacks (instances of skorch.callbacks.Callback, or (name, callback) pairs)"
        )


#: Constraints of every explicit constructor parameter of the estimators.
ESTIMATOR_CONSTRAINTS: dict[str, list] = {
    **{
        f"module__{name}": constraints
        for name, constraints in NETWORK_CONSTRAINTS.items()
        if name not in ("input_dim", "n_outputs", "accumulator_route")
    },
    # Left to None, depth, hidden budget, input/activation and weight bits are chosen by the search.
    "module__n_layers": [None, IntegerInterval(1, None, closed="left")],
    "module__n_a_bits": [None, IntegerInterval(MIN_QUANT_BITS, MAX_QUANT_BITS)],
    "module__n_w_bits": [None, IntegerInterval(MIN_QUANT_BITS, MAX_QUANT_BITS)],
    "criterion": [None, TorchClass(torch.nn.Module, "torch.nn.CrossEntropyLoss")],
    "optimizer": [TorchClass(torch.optim.Optimizer, "torch.optim.Adam")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "max_epochs": [IntegerInterval(1, None, closed="left")],
    "batch_size": [None, IntegerInterval(1, None, closed="left")],
    "iterator_train__shuffle": ["boolean"],
    "train_split": [None, callable],
    "callbacks": [None, StrOptions({"disable"}), CallbackList()],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
    "rounding_threshold_bits": [None, IntegerInterval(2, None, closed="left"), dict],
    "accuracy_tolerance": [Interval(Real, 0, 1, closed="both")],
    "latency_budget": [None, Interval(Real, 0, None, closed="neither")],
    "input_normalization": [None, StrOptions({"robust"})],
    "n_jobs": [None, IntegerInterval(1, None, closed="left"), IntegerInterval(None, -1, closed="right")],
    "classes": [None, "array-like"],
}


@dataclass(frozen=True)
class TrainingPlan:
    """What ``fit`` resolved from the data before training: reported as ``training_plan_``."""

    batch_size: int
    steps_per_epoch: int
    max_epochs: int

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_training(batch_size: int | None, max_epochs: int, n_rows: int) -> TrainingPlan:
    """The batch size (``None``: 16, larger past 1,024 rows so an epoch is at most 64 steps, smaller on
    data too small for ``MIN_TRAINING_STEPS``)."""
    if batch_size is None:
        batch_size = max(MIN_BATCH_SIZE, math.ceil(n_rows / MAX_STEPS_PER_EPOCH))
        trained_rows = math.floor(n_rows * (1 - VALIDATION_FRACTION))
        if math.ceil(trained_rows / batch_size) * max_epochs < MIN_TRAINING_STEPS:
            fitting = trained_rows * max_epochs // MIN_TRAINING_STEPS
            batch_size = max(SMALL_DATA_MIN_BATCH_SIZE, min(batch_size, fitting))
    return TrainingPlan(batch_size, math.ceil(n_rows / batch_size), max_epochs)


def input_normalization(X: np.ndarray, method: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature ``(offset, scale)`` that the network subtracts and divides by before quantizing.

    ``"robust"``: the mean and standard deviation of each feature winsorized at its 1st and 99th
    percentiles, so that raw features of any magnitude land where standardized ones would, and a few
    extreme values cannot squeeze a feature's useful range into one quantization step; a feature that
    winsorizes to a constant keeps its plain standard deviation, so the result does not depend on the
    units of any feature. A constant feature gets a scale of 1. ``None``: the data is used as given
    (offset 0, scale 1).
    """
    n_features = X.shape[1]
    if method is None or len(X) == 0:
        return np.zeros(n_features), np.ones(n_features)
    X = np.asarray(X, dtype=np.float64)
    offset, scale = _robust_statistics(X)
    _warn_about_outliers(X, offset, scale)
    return offset, scale


def client_normalization(X: np.ndarray, method: str | None) -> tuple[np.ndarray, ...]:
    """``(offset, scale, fold_offset, fold_scale)`` a network's ``set_input_normalization`` takes: the
    features' (``input_normalization``), then the folded features' ``|(X - offset) / scale|``
    (``veil.qat._client_inputs``), their robust statistics whatever ``method``."""
    offset, scale = input_normalization(X, method)
    if len(X) == 0:
        return offset, scale, np.zeros_like(offset), np.ones_like(scale)
    folded = np.abs((np.asarray(X, dtype=np.float64) - offset) / scale)
    return (offset, scale, *_robust_statistics(folded))


def _robust_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low, high = np.percentile(X, [1, 99], axis=0)
    clipped = np.clip(X, low, high)
    offset, scale = clipped.mean(axis=0), clipped.std(axis=0)
    # A feature that holds one value in over 98% of the rows (a sparse pixel) winsorizes to a constant:
    # its plain standard deviation keeps its rare values where they would be after a scaler, whatever its
    # units. Only a constant feature gets a scale of 1.
    scale = np.where(high > low, scale, X.std(axis=0))
    scale = np.where(X.max(axis=0) > X.min(axis=0), scale, 1.0)
    return offset, scale


#: Training values this many (winsorized) standard deviations from their feature's mean get a warning.
OUTLIER_DEVIATIONS = 50.0


def _warn_about_outliers(X: np.ndarray, offset: np.ndarray, scale: np.ndarray) -> None:
    deviations = np.abs(X - offset) / scale
    row, feature = np.unravel_index(np.argmax(deviations), deviations.shape)
    if deviations[row, feature] > OUTLIER_DEVIATIONS:
        count = int(np.sum(deviations > OUTLIER_DEVIATIONS))
        warnings.warn(
            f"X holds {count} training value(s) over {OUTLIER_DEVIATIONS:.0f} standard deviations from their "
            f"feature's mean, e.g. {X[row, feature]:g} in feature {feature} (row {row}, "
            f"{deviations[row, feature]:.0f} deviations); the input quantizer clips them to the edge of its "
            "range: check the data for errors",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
