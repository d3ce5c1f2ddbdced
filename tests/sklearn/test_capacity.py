"""The data-dependent defaults: capacity search, input normalization, target scaling, parameter checks."""

import io
import json
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import veil
from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor
from veil.sklearn._capacity import (
    INPUT_RANGES,
    CapacityReport,
    _cheapest_near_best,
    _refit,
    _warn_short_of_reference,
    within_tolerance,
)
from veil.sklearn._ladder import Candidate, candidates
from veil.sklearn._params import input_normalization, resolve_training
from veil.sklearn._search_jobs import Trained, network_seeds
from veil.sklearn._training import FloatReference, measure

# Short trainings: these tests check the mechanism, not the accuracy (see make bench-accuracy).
QUICK = {"max_epochs": 6, "random_state": 0}


pytestmark = pytest.mark.usefixtures("quiet_short_training")


def test_a_networks_seed_follows_its_own_configuration_not_its_place_in_the_search():
    reference = ("reference", {"width": 32, "n_layers": 2})
    cheap = ("candidate", {"n_layers": 2, "n_accum_bits": 4, "n_a_bits": 3, "n_w_bits": 2})
    dear = ("candidate", {"n_layers": 2, "n_accum_bits": 6, "n_a_bits": 3, "n_w_bits": 2})
    two = network_seeds([reference, dear], random_state=0)
    three = network_seeds([reference, cheap, dear], random_state=0)
    assert three[0] == two[0] and three[2] == two[1]  # a candidate added before it changes nothing
    assert len(set(three)) == 3
    assert network_seeds([dear], random_state=0) == [two[1]]
    assert network_seeds([reference, dear], random_state=1) != two


def test_tolerance_allows_one_validation_row():
    assert within_tolerance(0.90, 0.92, tolerance=0.01, n_validation=50)  # 0.02 <= 0.01 + 1/50
    assert not within_tolerance(0.90, 0.92, tolerance=0.01, n_validation=1000)


def test_when_none_meets_the_reference_the_cheapest_near_the_best_is_kept():
    tried = [("4 bits", 0.80, None), ("5 bits", 0.85, None), ("6 bits", 0.86, None)]  # cheapest first
    # 0.85 is within 0.01 (plus one row of 1,000) of the best 0.86: not worth the dearer lookups.
    assert _cheapest_near_best(tried, tolerance=0.01, n_validation=1000)[0] == "5 bits"
    assert _cheapest_near_best(tried, tolerance=0.0, n_validation=1000)[0] == "6 bits"
    assert _cheapest_near_best(tried, tolerance=0.0, n_validation=20)[0] == "5 bits"  # one row: 0.05


def test_a_search_short_of_the_reference_warns_with_the_scores_and_the_budget():
    tried = [(Candidate({}, 0.352), 0.80, None), (Candidate({}, 2.624), 0.86, None)]
    expected = (
        r"NeuralNetClassifier: .* within accuracy_tolerance=0.01 of a float MLP .* \(best 0.860, "
        r"estimated 2.62 s a row, against 0.950\); a larger latency_budget \(now 3 s\) lets it try bigger"
    )
    with pytest.warns(veil.CapacityWarning, match=expected):
        _warn_short_of_reference(NeuralNetClassifier(), 0.95, tried)
    with pytest.warns(veil.CapacityWarning) as caught:
        _warn_short_of_reference(NeuralNetRegressor(latency_budget=None), 0.95, tried)
    assert "latency_budget" not in str(caught[0].message)


def _rows_trained_per_epoch(skorch_net) -> int:
    return sum(batch["train_batch_size"] for batch in skorch_net.history[0]["batches"])


def test_the_chosen_configuration_is_trained_again_on_every_row():
    X, y = make_classification(n_samples=200, n_features=5, n_informative=4, n_redundant=0, random_state=0)
    model = NeuralNetClassifier(**QUICK).fit(X, y)
    refit = model.capacity_["refit"]
    assert refit["used"] and refit["validation_score"] > 0.5
    assert _rows_trained_per_epoch(model.skorch_net_) == 200  # not the search's 160

    fixed = NeuralNetClassifier(module__n_layers=2, module__n_accum_bits=4, **QUICK).fit(X, y)
    assert fixed.capacity_["refit"] is None and _rows_trained_per_epoch(fixed.skorch_net_) == 200


def test_past_the_refit_rows_the_searched_network_is_kept(monkeypatch):
    X, y = make_classification(n_samples=200, n_features=5, n_informative=4, n_redundant=0, random_state=0)
    monkeypatch.setattr(veil.sklearn._capacity, "REFIT_MAX_ROWS", 199)
    model = NeuralNetClassifier(**QUICK).fit(X, y)
    assert model.capacity_["searched"] and model.capacity_["refit"] is None
    assert _rows_trained_per_epoch(model.skorch_net_) == 160  # the search's fit split


class _FailedRefit:
    """What a refit that diverged reports: a score far below the searched network's."""

    def run(self, jobs, n_jobs, random_state):
        assert [kind for kind, _ in jobs] == ["refit"]
        yield 0, Trained("diverged network", 0.40, 2.0)


def test_a_refit_that_fails_leaves_the_searched_network():
    chosen = candidates(2, 4, (3,), {3: 4}.get, 32, None)[0]
    estimator = NeuralNetClassifier(accuracy_tolerance=0.01, random_state=0)
    net, report = _refit(_FailedRefit(), chosen, 0.90, "searched network", estimator, n_validation=100)
    assert (net, report) == ("searched network", {"validation_score": 0.40, "used": False})
    # Within the tolerance plus two standard errors (0.01 + 1 / sqrt(100)): a seed's worth, not a failure.
    net, report = _refit(_FailedRefit(), chosen, 0.509, "searched network", estimator, n_validation=100)
    assert (net, report["used"]) == ("diverged network", True)
    net, report = _refit(_FailedRefit(), chosen, 0.52, "searched network", estimator, n_validation=100)
    assert (net, report["used"]) == ("searched network", False)


def test_search_is_deterministic_reported_and_never_overrides_explicit_parameters():
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = NeuralNetClassifier(**QUICK).fit(X, y)
    second = NeuralNetClassifier(**QUICK).fit(X, y)
    assert first.capacity_ == second.capacity_
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    report = first.capacity_
    assert report["searched"] and report["reference_score"] is not None
    tried = report["candidates"]
    # fit warns exactly when no candidate came within the tolerance of the float reference (24 rows).
    met = any(within_tolerance(c["validation_score"], report["reference_score"], 0.01, 24) for c in tried)
    assert any(issubclass(w.category, veil.CapacityWarning) for w in caught) == (not met)
    assert tried[0]["n_layers"] == 2 and tried[0]["n_accum_bits"] == 4
    names = ("n_layers", "n_accum_bits", "n_a_bits", "n_w_bits", "input_range")
    assert report["chosen"] in [{name: c[name] for name in names} for c in tried]
    module = first.base_module_to_compile
    assert {name: getattr(module, name) for name in names} == report["chosen"]
    # The parameters stay as given: the choice lives in capacity_.
    assert first.module__n_accum_bits is None and first.module__n_layers is None
    assert first.module__input_range is None
    assert first.module__n_a_bits is None and first.module__n_w_bits is None

    fixed = NeuralNetClassifier(module__n_layers=3, module__n_accum_bits=5, **QUICK).fit(X, y)
    assert not fixed.capacity_["searched"]
    assert fixed.capacity_["chosen"] == {"n_layers": 3, "n_accum_bits": 5, "n_a_bits": 3, "n_w_bits": 2}
    assert fixed.base_module_to_compile.accumulator_budgets() == [5, 5, 7]


def test_search_fixes_the_input_range_by_its_float_reference_and_honours_the_users(tmp_path):
    X, y = make_classification(n_samples=200, n_features=5, n_informative=4, n_redundant=0, random_state=0)
    params = {**QUICK, "latency_budget": 0.9, "accuracy_tolerance": 0.0}
    model = NeuralNetClassifier(**params).fit(X, y)
    grids, tried = model.capacity_["input_grids"], model.capacity_["candidates"]
    assert sorted((g["n_a_bits"], g["input_range"]) for g in grids) == [
        (a_bits, value_range) for a_bits in (3, 4) for value_range in INPUT_RANGES
    ]
    assert len(tried) > 2
    for candidate in tried[1:]:
        scored = [g for g in grids if g["n_a_bits"] == candidate["n_a_bits"]]
        best = max(g["validation_score"] for g in scored)
        assert candidate["input_range"] == min(
            g["input_range"] for g in scored if g["validation_score"] == best
        )
    # The first candidate trained at every range and kept the one of least validation loss: that network.
    ranges = model.capacity_["first_candidate_ranges"]
    assert [r["input_range"] for r in ranges] == list(INPUT_RANGES)
    least = min(ranges, key=lambda r: (r["validation_loss"], r["input_range"]))
    assert (tried[0]["input_range"], tried[0]["validation_score"]) == (
        least["input_range"],
        least["validation_score"],
    )
    chosen_range = model.capacity_["chosen"]["input_range"]
    assert model.base_module_to_compile.input_range == chosen_range
    model.dump(tmp_path / "model.veil")
    assert veil.load(tmp_path / "model.veil").base_module_to_compile.input_range == chosen_range

    own = NeuralNetClassifier(module__input_range=1.5, **params).fit(X, y)
    assert own.capacity_["input_grids"] == own.capacity_["first_candidate_ranges"] == []
    assert all("input_range" not in c for c in own.capacity_["candidates"])
    assert own.base_module_to_compile.input_range == 1.5


def test_float_reference_on_an_input_grid_reads_the_snapped_inputs():
    grid = FloatReference(
        input_dim=2, n_outputs=1, width=4, n_layers=2, activation=torch.nn.ReLU, input_grid=(2.0, 3)
    )
    plain = FloatReference(input_dim=2, n_outputs=1, width=4, n_layers=2, activation=torch.nn.ReLU)
    plain.load_state_dict(grid.state_dict())
    x = torch.tensor([[0.3, -5.0]])
    # 3-bit signed over ±2: steps of 0.5 from -2 to 1.5.
    np.testing.assert_allclose(grid(x).detach().numpy(), plain(torch.tensor([[0.5, -2.0]])).detach().numpy())


class _FixedOutputs:
    """A trained skorch network as ``measure`` reads it: a torch module that returns fixed outputs."""

    def __init__(self, outputs):
        self.module_ = torch.nn.Module()
        self.module_.forward = lambda x: torch.as_tensor(outputs, dtype=torch.float32)


def test_validation_loss_tells_apart_networks_of_equal_accuracy():
    y = np.array([0, 1, 1])
    sure = _FixedOutputs([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0]])
    unsure = _FixedOutputs([[0.1, 0.0], [0.0, 0.1], [0.0, 0.1]])
    X = np.zeros((3, 1), dtype=np.float32)
    # Both classify every row right; the log-loss of each row is -log(e^m / (1 + e^m)) at margin m.
    assert measure(sure, X, y, True) == pytest.approx((1.0, np.log1p(np.exp(-2.0))), rel=1e-6)
    assert measure(unsure, X, y, True) == pytest.approx((1.0, np.log1p(np.exp(-0.1))), rel=1e-6)
    targets = np.array([[1.0], [0.0], [3.0]])
    assert measure(_FixedOutputs([[1.0], [1.0], [1.0]]), X, targets, False)[1] == pytest.approx(5 / 3)
    # A training that diverged measures as the worst, not as a crash of ``fit``.
    diverged = _FixedOutputs([[np.nan, 0.0], [0.0, np.inf], [0.0, 1.0]])
    assert measure(diverged, X, y, True) == (-np.inf, np.inf)
    assert measure(_FixedOutputs([[np.nan], [1.0], [1.0]]), X, targets, False) == (-np.inf, np.inf)


def test_a_diverged_measurement_is_reported_as_none_so_the_model_file_holds_it():
    report = CapacityReport({}, 0.5, True, reference_score=0.9)
    report.first_candidate_ranges.append(
        {"input_range": 2.0, "validation_score": -np.inf, "validation_loss": np.inf}
    )
    shown = report.to_dict()
    assert shown["first_candidate_ranges"] == [
        {"input_range": 2.0, "validation_score": None, "validation_loss": None}
    ]
    assert shown["reference_score"] == 0.9
    json.dumps(shown, allow_nan=False)  # what a Veil file's header asks of it


def test_rounded_candidate_is_tried_only_when_the_user_left_its_settings_to_veil():
    X, y = make_classification(
        n_samples=300, n_features=8, n_informative=6, n_classes=4, class_sep=0.7, random_state=0
    )
    searched = NeuralNetClassifier(module__n_layers=2, accuracy_tolerance=0.0, **QUICK).fit(X, y)
    tried = searched.capacity_["candidates"]
    measured = ("estimated_seconds", "validation_score")
    settings = [{k: v for k, v in c.items() if k not in measured} for c in tried]
    slack = 1 / 60  # one of the 60 validation rows
    if tried[-1]["validation_score"] >= searched.capacity_["reference_score"] - slack:
        assert searched.capacity_["chosen"] == settings[-1]  # the last met the reference
    else:  # none did: the cheapest within one row of the best
        best = max(c["validation_score"] for c in tried)
        near = [i for i, c in enumerate(tried) if c["validation_score"] >= best - slack]
        assert searched.capacity_["chosen"] == settings[near[0]]
    rounded = tried[-2:]  # the dearest, tried once the others fell short
    assert [c["rounding_threshold_bits"] for c in rounded] == [{"n_bits": 6, "method": "exact"}] * 2
    assert [(c["n_accum_bits"], c["n_w_bits"], c["n_a_bits"]) for c in rounded] == [(8, 3, 3), (9, 3, 4)]
    for user in ({"module__n_w_bits": 2}, {"module__n_accum_bits": 6}, {"rounding_threshold_bits": 7}):
        short = {**QUICK, "max_epochs": 2}  # only which candidates are tried matters here
        model = NeuralNetClassifier(module__n_layers=2, accuracy_tolerance=0.0, **short, **user).fit(X, y)
        assert all("rounding_threshold_bits" not in c for c in model.capacity_["candidates"]), user


def test_the_chosen_rounding_reaches_the_circuit_and_the_users_own_wins(tmp_path):
    X, y = make_classification(n_samples=200, n_features=8, n_informative=6, random_state=0)
    wide = {"module__n_layers": 2, "module__n_accum_bits": 8, "module__n_w_bits": 3, "module__n_a_bits": 3}
    model = NeuralNetClassifier(**wide, **QUICK).fit(X, y)
    unrounded = model.compile(X).statistics
    assert unrounded.rounding_bootstrap_count == 0 and max(unrounded.table_lookups_by_bit_width) > 6
    # As if the search had chosen this configuration with its rounding (capacity_ is what fit reports).
    model.capacity_["chosen"]["rounding_threshold_bits"] = {"n_bits": 6, "method": "exact"}
    model._build_integer_model(model.skorch_net_, X)
    rounded = model.compile(X).statistics
    assert max(rounded.table_lookups_by_bit_width) == 6 and rounded.rounding_bootstrap_count > 0
    np.testing.assert_array_equal(model.predict(X[:50], fhe="simulate"), model.predict(X[:50]))
    model.dump(tmp_path / "rounded.veil")  # the file holds the rounded integer model as it is
    loaded = veil.load(tmp_path / "rounded.veil")
    assert max(loaded.compile(X).statistics.table_lookups_by_bit_width) == 6
    np.testing.assert_array_equal(loaded.predict(X[:50], fhe="simulate"), model.predict(X[:50]))
    model.set_params(rounding_threshold_bits={"n_bits": 7, "method": "exact"})
    model._build_integer_model(model.skorch_net_, X)
    assert max(model.compile(X).statistics.table_lookups_by_bit_width) == 7


def test_parallel_search_trains_the_same_networks_and_shows_their_warnings():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=5, n_redundant=0, n_classes=3, random_state=1
    )
    params = {**QUICK, "accuracy_tolerance": 0.0, "latency_budget": 0.9}
    one = NeuralNetClassifier(**params).fit(X, y)
    # Six epochs on 160 rows stop short of the quantizers' statistics steps, in the worker processes too.
    with pytest.warns(ConvergenceWarning, match="optimizer steps before") as caught:
        two = NeuralNetClassifier(**params, n_jobs=2).fit(X, y)
    assert caught[0].filename == __file__
    assert two.capacity_ == one.capacity_
    np.testing.assert_array_equal(two.predict_proba(X), one.predict_proba(X))


def test_raw_features_match_standardized_ones_and_survive_files():
    X, y = load_iris(return_X_y=True)
    spread = np.array([1e-3, 1.0, 1e2, 1e4])
    raw = X * spread + 5 * spread
    standardized = (X - X.mean(axis=0)) / X.std(axis=0)
    params = {"module__n_layers": 2, "module__n_accum_bits": 4, "max_epochs": 30, "random_state": 0}
    on_raw = NeuralNetClassifier(**params).fit(raw, y)
    on_standardized = NeuralNetClassifier(**params).fit(standardized, y)
    # The normalization is affine-invariant: both networks see the same normalized inputs.
    assert abs(on_raw.score(raw, y) - on_standardized.score(standardized, y)) <= 0.02
    assert on_raw.score(raw, y) > 0.9
    # It runs on the client: the integer model quantizes raw rows, and a Veil file keeps it.
    buffer = io.BytesIO()
    on_raw.dump(buffer)
    buffer.seek(0)
    loaded = veil.load(buffer)
    np.testing.assert_array_equal(loaded.predict(raw), on_raw.predict(raw))
    on_raw.compile(raw)
    np.testing.assert_array_equal(on_raw.predict(raw, fhe="simulate"), on_raw.predict(raw))


def test_robust_normalization_gives_the_same_inputs_whatever_the_units_of_each_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 4))
    X[:, 2] = np.where(rng.random(1000) < 0.01, rng.integers(1, 16, 1000), 0.0)  # a sparse pixel: 1% non-zero
    X[:, 3] = 0.0  # a constant feature
    units = np.array([1e-3, 1e2, 1e-3, 1e-3])
    raw = X * units + 7 * units

    def normalized(data):
        offset, scale = input_normalization(data, "robust")
        return (data - offset) / scale

    # The sparse feature winsorizes to a constant: its rare values must survive whatever its units.
    np.testing.assert_allclose(normalized(raw), normalized(X), atol=1e-9)
    assert normalized(raw)[:, 2].max() > 5
    assert np.abs(normalized(raw)[:, 3]).max() < 1e-12


def test_robust_normalization_ignores_an_extreme_value_and_warns_about_it():
    X = np.random.default_rng(0).normal(size=(500, 2))
    X[7, 0] = 1e3
    with pytest.warns(UserWarning, match=r"1 training value.* e\.g\. 1000 in feature 0 \(row 7"):
        offset, scale = input_normalization(X, "robust")
    assert abs(offset[0]) < 0.1 and 0.8 < scale[0] < 1.2
    constant = input_normalization(np.ones((10, 1)), "robust")
    assert constant[1][0] == 1.0
    assert input_normalization(X, None)[1].tolist() == [1.0, 1.0]


def test_batch_size_grows_past_a_thousand_rows():
    assert resolve_training(None, 50, 500).batch_size == 16
    large = resolve_training(None, 50, 20000)
    assert large.steps_per_epoch <= 64 and large.batch_size == 313
    assert resolve_training(32, 50, 20000).batch_size == 32
    # Small data: the batch shrinks until a search candidate (80% of the rows) trains 600 steps.
    iris = resolve_training(None, 50, 112)
    assert iris.batch_size == 7 and math.ceil(89 / 7) * 50 >= 600
    assert resolve_training(None, 3, 112).batch_size == 4  # never below 4
    assert resolve_training(3, 50, 112).batch_size == 3  # a set batch size stays


def test_regressor_predicts_in_the_targets_units():
    X, y = make_regression(n_samples=200, n_features=4, noise=1.0, random_state=0)
    target = 1000 * y + 5e4
    model = NeuralNetRegressor(module__n_layers=2, module__n_accum_bits=5, max_epochs=30, random_state=0)
    model.fit(X, target)
    assert model.score(X, target) > 0.8
    assert abs(np.mean(model.predict(X)) - np.mean(target)) < 0.1 * np.std(target)


def test_rounding_never_rounds_the_output_layer():
    X, y = load_iris(return_X_y=True)
    params = {"module__n_layers": 2, "module__n_accum_bits": 4, "max_epochs": 30, "random_state": 0}
    rounded = NeuralNetClassifier(rounding_threshold_bits=3, **params).fit(X, y)
    plain = NeuralNetClassifier(**params).fit(X, y)
    graph = rounded.quantized_module_.graph
    lookups = [node for node in graph.nodes if type(node).__name__ == "LookupNode"]
    assert len(lookups) == len(
        [n for n in plain.quantized_module_.graph.nodes if type(n).__name__ == "LookupNode"]
    )
    assert rounded.score(X, y) > 0.8  # one class everywhere would be 0.33


@pytest.mark.parametrize(
    ("params", "fragments"),
    [
        ({"max_epochs": 0}, ["'max_epochs'", "[1, inf)", "Got 0"]),
        ({"max_epochs": -1}, ["'max_epochs'", "Got -1"]),
        ({"max_epochs": 2.5}, ["'max_epochs'", "an int", "Got 2.5"]),
        ({"optimizer": "adam"}, ["'optimizer'", "Optimizer subclass such as torch.optim.Adam", "Got 'adam'"]),
        ({"callbacks": [lambda net: None]}, ["'callbacks'", "skorch callbacks", "Got ["]),
        ({"lr": 0}, ["'lr'", "(0.0, inf)", "Got 0"]),
        ({"accuracy_tolerance": 2}, ["'accuracy_tolerance'", "[0.0, 1.0]", "Got 2"]),
        ({"input_normalization": "standard"}, ["'input_normalization'", "'robust'", "Got 'standard'"]),
        ({"module__n_w_bits": 9}, ["'module__n_w_bits'", "[2, 8]", "Got 9"]),
        ({"n_jobs": 0}, ["'n_jobs'", "[1, inf)", "(-inf, -1]", "Got 0"]),
    ],
)
def test_invalid_parameters_are_refused_at_fit_with_one_message(params, fragments):
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    with pytest.raises(ValueError) as error:
        NeuralNetClassifier(**params).fit(X, y)
    for fragment in fragments:
        assert fragment in str(error.value)
