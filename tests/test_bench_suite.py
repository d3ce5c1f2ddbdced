"""The ``make bench-accuracy`` suite covers the shapes users bring, deterministically, in both variants."""

import numpy as np
import pytest
from benchmarks._accuracy_report import summarize
from benchmarks._common import score, split_dataset
from benchmarks.suite import PROBLEMS, problems_by_name
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="module")
def loaded():
    return {problem.name: problem.load("scaled") for problem in PROBLEMS}


def test_suite_spans_the_required_shapes(loaded):
    assert len(problems_by_name()) == len(PROBLEMS) >= 24
    features = [X.shape[1] for X, _ in loaded.values()]
    assert (min(features), max(features)) == (2, 100)
    labels = [loaded[p.name][1] for p in PROBLEMS if p.task == "classification"]
    classes = [np.unique(y, return_counts=True)[1] for y in labels]
    assert (min(map(len, classes)), max(map(len, classes))) == (2, 10)
    assert (
        max(counts.max() / counts.min() for counts in classes) >= 8
    )  # make_classification's weights=[0.9, 0.1]
    generated_rows = [len(loaded[p.name][0]) for p in PROBLEMS if p.informative_fraction is not None]
    assert (min(generated_rows), max(generated_rows)) == (200, 20_000)
    fractions = [p.informative_fraction for p in PROBLEMS if p.informative_fraction is not None]
    assert min(fractions) <= 0.1 and max(fractions) == 1.0
    for name in ("iris", "wine", "breast_cancer", "digits", "diabetes", "linnerud", "friedman1", "friedman2",
                 "friedman3", "hastie_10_2", "gaussian_quantiles", "moons", "circles"):  # fmt: skip
        assert name in loaded
    assert {p.task for p in PROBLEMS} == {"classification", "regression"}


def test_every_problem_is_deterministic_in_both_variants(loaded):
    for problem in PROBLEMS:
        X, y = problem.load("scaled")
        np.testing.assert_array_equal(X, loaded[problem.name][0])
        np.testing.assert_array_equal(y, loaded[problem.name][1])
        np.testing.assert_array_equal(problem.load("raw")[0], problem.load("raw")[0])


def test_raw_variant_spreads_features_over_several_decades_and_standardizes_back(loaded):
    for problem in PROBLEMS:
        X, _ = loaded[problem.name]
        raw, _ = problem.load("raw")
        varying = X.std(axis=0) > 0
        spread = raw.std(axis=0)[varying]
        # Six decades between the extreme features; digits' constant pixels take some of the extremes.
        assert spread.max() / spread.min() >= 1e4, problem.name
        # Affine per feature: standardizing the raw variant gives the scaled variant back.
        np.testing.assert_allclose(
            StandardScaler().fit_transform(raw)[:, varying],
            StandardScaler().fit_transform(X)[:, varying],
            atol=1e-6,
        )


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="variant must be one of \\('scaled', 'raw'\\), got 'unscaled'"):
        PROBLEMS[0].load("unscaled")


def test_split_standardizes_targets_on_train_and_scores_multi_output_r2():
    X, y = problems_by_name()["linnerud"].load("raw")
    X_train, X_test, y_train, y_test = split_dataset(X, y, "regression", scale_features=False)
    assert {tuple(row) for row in X_train} <= {tuple(row) for row in X}  # features left as given
    np.testing.assert_allclose(y_train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(y_train.std(axis=0), 1, atol=1e-5)
    prediction = y_test + np.linspace(-0.5, 0.5, y_test.size).reshape(y_test.shape)
    assert score("regression", y_test, prediction) == pytest.approx(r2_score(y_test, prediction), rel=1e-6)


def test_summary_reports_worst_gap_tolerance_and_raw_minus_scaled():
    def row(problem, variant, simulated, gap):
        return {"problem": problem, "variant": variant, "task": "classification", "error": None,
                "simulated_score": simulated, "gap": gap, "clear_equals_simulated": True,
                "latency_estimate_seconds": 0.1, "fit_seconds": 2.0}  # fmt: skip

    rows = [row("a", "scaled", 0.90, -1.0), row("a", "raw", 0.80, -11.0), row("b", "scaled", 0.95, 0.5)]
    rows.append({"problem": "c", "variant": "raw", "task": "classification", "error": "ValueError: x"})
    summary = summarize(rows)["classification"]
    assert (summary["worst_gap"], summary["worst_gap_problem"]) == (-11.0, "a (raw)")
    assert (summary["median_gap"], summary["within_tolerance"], summary["rows"]) == (-1.0, 2, 3)
    assert summary["raw_minus_scaled"] == {"a": pytest.approx(-10.0)}
    assert summarize(rows)["errors"] == ["c (raw): ValueError: x"]
