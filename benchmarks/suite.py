"""The problems of ``make bench-accuracy``: bundled data sets and generators across the shapes users bring.

Every problem is deterministic (fixed seeds) and comes in two variants: ``"scaled"`` (standardized on the
training split, done by the benchmark) and ``"raw"`` (:func:`raw_features`: feature ranges spread over six
orders of magnitude, with offsets, as a user might pass them without preprocessing).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_linnerud,
    load_wine,
    make_circles,
    make_classification,
    make_friedman1,
    make_friedman2,
    make_friedman3,
    make_gaussian_quantiles,
    make_hastie_10_2,
    make_moons,
    make_regression,
)

from benchmarks._common import SEED

VARIANTS = ("scaled", "raw")
# Raw variant: feature j is multiplied by 10**u_j, u_j spread evenly over this range (in a per-problem order).
RAW_DECADES = (-3.0, 3.0)
# ... and shifted by up to this many of its own (scaled) standard deviations.
RAW_MAX_OFFSET = 10.0


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: a name, its task and a deterministic generator of ``(X, y)``.

    ``informative_fraction`` is the share of features that carry signal, when the generator says so;
    ``note`` says what a reader of the results should know about the problem.
    """

    name: str
    task: str
    make: Callable[[], tuple]
    informative_fraction: float | None = None
    note: str | None = None

    def load(self, variant: str = "scaled") -> tuple[np.ndarray, np.ndarray]:
        """``X`` (float64) and ``y`` (int64 classes or float64 targets) of ``variant``, before any split.

        The ``"scaled"`` variant returns the features as generated; the benchmark standardizes them on the
        training split. The ``"raw"`` variant returns :func:`raw_features` of them.
        """
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        X, y = self.make()
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64 if self.task == "classification" else np.float64)
        if variant == "raw":
            X = raw_features(X, seed=zlib.crc32(self.name.encode()))
        return X, y


def raw_features(X: np.ndarray, seed: int) -> np.ndarray:
    """``X`` with feature j rescaled to a standard deviation of 10**u_j and shifted by a fixed offset.

    The u_j are evenly spread over ``RAW_DECADES`` and assigned to features in an order drawn from
    ``seed``; offsets are up to ``RAW_MAX_OFFSET`` standard deviations. The map is affine per feature, so
    standardizing the raw variant on the training split gives the scaled variant back.
    """
    rng = np.random.default_rng(seed)
    n_features = X.shape[1]
    decades = rng.permutation(np.linspace(*RAW_DECADES, num=n_features))
    spread = X.std(axis=0)
    spread[spread == 0] = 1.0
    scale = 10.0**decades / spread
    offset = 10.0**decades * rng.uniform(-RAW_MAX_OFFSET, RAW_MAX_OFFSET, size=n_features)
    return X * scale + offset


def _bundled(name: str, task: str, loader, note: str | None = None) -> Problem:
    return Problem(name, task, partial(loader, return_X_y=True), note=note)


def _generated(name: str, task: str, generator, **params) -> Problem:
    informative = params.get("n_informative")
    fraction = informative / params["n_features"] if informative is not None else None
    return Problem(name, task, partial(generator, random_state=SEED, **params), fraction)


def _classification(name: str, **params) -> Problem:
    return _generated(name, "classification", make_classification, **params)


def _regression(name: str, **params) -> Problem:
    return _generated(name, "regression", make_regression, **params)


C, R = "classification", "regression"
PROBLEMS: tuple[Problem, ...] = (
    # scikit-learn's bundled data sets.
    _bundled("iris", C, load_iris),
    _bundled("wine", C, load_wine),
    _bundled("breast_cancer", C, load_breast_cancer),
    _bundled("digits", C, load_digits),
    _bundled("diabetes", R, load_diabetes),
    _bundled(
        "linnerud",
        R,
        load_linnerud,
        note="all three targets, one multi-output model, R² averaged over them; 20 rows, so 5 test rows: "
        "its R² (the float MLP's too) is noise, not a measure of the model",
    ),
    # Non-linear low-dimensional shapes.
    _generated("moons", C, make_moons, n_samples=1000, noise=0.2),
    _generated("circles", C, make_circles, n_samples=1000, noise=0.1, factor=0.5),
    _generated("gaussian_quantiles", C, make_gaussian_quantiles, n_samples=1500, n_features=3, n_classes=3),
    _generated("hastie_10_2", C, make_hastie_10_2, n_samples=4000),
    # make_classification across features, classes, informative share, redundancy, noise and imbalance.
    _classification("clf_200r_5f", n_samples=200, n_features=5, n_informative=3, n_redundant=1),
    _classification("clf_2000r_20f", n_samples=2000, n_features=20, n_informative=10, n_redundant=5),
    _classification(
        "clf_3000r_8f_4c_all_informative",
        n_samples=3000,
        n_features=8,
        n_informative=8,
        n_redundant=0,
        n_classes=4,
    ),
    _classification(
        "clf_5000r_100f_3c_10pct_informative",
        n_samples=5000,
        n_features=100,
        n_informative=10,
        n_redundant=10,
        n_repeated=5,
        n_classes=3,
    ),
    _classification(
        "clf_3000r_30f_10c",
        n_samples=3000,
        n_features=30,
        n_informative=20,
        n_redundant=5,
        n_classes=10,
        n_clusters_per_class=1,
    ),
    _classification(
        "clf_2000r_10f_imbalanced_1to9",
        n_samples=2000,
        n_features=10,
        n_informative=5,
        n_redundant=2,
        weights=[0.9, 0.1],
    ),
    _classification(
        "clf_4000r_15f_3c_imbalanced",
        n_samples=4000,
        n_features=15,
        n_informative=6,
        n_redundant=3,
        n_classes=3,
        weights=[0.8, 0.1, 0.1],
    ),
    _classification(
        "clf_2000r_50f_noisy_labels",
        n_samples=2000,
        n_features=50,
        n_informative=5,
        n_redundant=0,
        flip_y=0.05,
        class_sep=0.8,
    ),
    _classification(
        "clf_10000r_12f_many_clusters",
        n_samples=10000,
        n_features=12,
        n_informative=6,
        n_redundant=2,
        n_clusters_per_class=4,
        class_sep=0.6,
    ),
    _classification(
        "clf_20000r_40f_5c", n_samples=20000, n_features=40, n_informative=20, n_redundant=10, n_classes=5
    ),
    # Regression: Friedman's non-linear functions and make_regression with noise.
    _generated("friedman1", R, make_friedman1, n_samples=2000, n_features=10, noise=1.0),
    _generated("friedman2", R, make_friedman2, n_samples=1000, noise=10.0),
    _generated("friedman3", R, make_friedman3, n_samples=1000, noise=0.05),
    _regression("reg_200r_5f", n_samples=200, n_features=5, n_informative=5, noise=10.0),
    _regression("reg_2000r_20f", n_samples=2000, n_features=20, n_informative=10, noise=5.0),
    _regression("reg_5000r_100f", n_samples=5000, n_features=100, n_informative=20, noise=20.0),
    _regression(
        "reg_3000r_10f_low_rank", n_samples=3000, n_features=10, n_informative=10, effective_rank=3, noise=1.0
    ),
    _regression("reg_20000r_30f", n_samples=20000, n_features=30, n_informative=15, noise=10.0),
)


def problems_by_name() -> dict[str, Problem]:
    """The suite, keyed by problem name."""
    return {problem.name: problem for problem in PROBLEMS}
