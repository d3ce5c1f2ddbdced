"""``latency_budget`` checked on the compiled circuit: hidden neurons leave the integer model until
concrete's estimate fits (tiny real circuits: iris, 4-bit lookups)."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

import veil
from veil.quantization._idle_neurons import hidden_neurons, without_neurons
from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor, _latency_check
from veil.sklearn._capacity import CapacityReport
from veil.sklearn._latency_check import (
    SECONDS_PER_COMPLEXITY_UNIT,
    checks_compiled_latency,
    compiled_seconds,
    keep_within_budget,
    training_loss,
)

QUICK = {"max_epochs": 6, "random_state": 0}


pytestmark = pytest.mark.usefixtures("quiet_short_training")


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def fixed(iris):
    """A network the search did not choose (its configuration set), so ``fit`` checked nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return NeuralNetClassifier(module__n_layers=2, module__n_accum_bits=4, **QUICK).fit(*iris)


def test_a_circuit_within_its_budget_is_left_as_it_is(fixed, iris):
    X, y = iris
    module = fixed.quantized_module_
    assert fixed.capacity_["latency_check"] is None
    seconds = compiled_seconds(module.graph, module.quantize_input(X))
    assert 0.05 < seconds < 1.0  # a few tens of 4-bit lookups
    kept, report = keep_within_budget(module, X, y, seconds, training_loss(fixed))
    assert kept is module and report == {"estimated_seconds": [seconds], "removed_neurons": 0}


def test_a_circuit_over_its_budget_loses_the_neurons_the_excess_needs(fixed, iris):
    X, y = iris
    module = fixed.quantized_module_
    lookups = module.graph.table_lookup_count()
    seconds = compiled_seconds(module.graph, module.quantize_input(X))
    budget = seconds * (lookups - 2.5) / lookups  # about two and a half neurons too many
    trimmed, report = keep_within_budget(module, X, y, budget, training_loss(fixed))
    assert report["estimated_seconds"][0] == seconds
    assert report["estimated_seconds"][-1] <= budget
    assert report["removed_neurons"] >= 3
    assert trimmed.graph.table_lookup_count() == lookups - report["removed_neurons"]
    assert module.graph.table_lookup_count() == lookups and fixed.quantized_module_ is module  # a copy
    # The estimate is the compiled circuit's own, and the trimmed model still runs bit-exact.
    trimmed.compile(X)
    complexity = trimmed.fhe_circuit.statistics.complexity
    assert complexity * SECONDS_PER_COMPLEXITY_UNIT == pytest.approx(report["estimated_seconds"][-1])
    q_x = trimmed.quantize_input(X)
    np.testing.assert_array_equal(
        trimmed.quantized_forward(q_x, fhe="simulate"), trimmed.quantized_forward(q_x)
    )


def test_a_budget_no_trimming_reaches_says_so(fixed, iris):
    X, y = iris
    with pytest.warns(veil.CapacityWarning, match=r"still over latency_budget=0.001"):
        trimmed, report = keep_within_budget(fixed.quantized_module_, X, y, 0.001, training_loss(fixed))
    assert len(report["estimated_seconds"]) == 1 + _latency_check.MAX_ROUNDS or (
        trimmed.graph.table_lookup_count() == 1
    )
    assert report["estimated_seconds"][-1] > 0.001


def test_the_neurons_removed_are_those_whose_loss_on_the_training_rows_rises_least(fixed, iris):
    X, y = iris
    module, loss = fixed.quantized_module_, training_loss(fixed)
    lookups = module.graph.table_lookup_count()
    seconds = compiled_seconds(module.graph, module.quantize_input(X))
    trimmed, _ = keep_within_budget(module, X, y, seconds * (lookups - 0.5) / lookups, loss)
    q_x = module.quantize_input(X)
    after = {
        neuron: loss(module.dequantize_output(without_neurons(module.graph, [neuron])(q_x)), y)
        for neuron in hidden_neurons(module.graph)
    }
    best = min(after, key=after.get)
    np.testing.assert_array_equal(trimmed.quantized_forward(q_x), without_neurons(module.graph, [best])(q_x))
    assert len(set(after.values())) > 1  # the choice was not a tie broken by order


def test_a_regressors_loss_is_the_squared_error_and_a_classifiers_the_log_loss():
    outputs, classes = np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([0, 1])
    expected = -np.mean([np.log(np.exp(2) / (np.exp(2) + 1)), np.log(0.5)])
    assert training_loss(NeuralNetClassifier())(outputs, classes) == pytest.approx(expected)
    assert training_loss(NeuralNetRegressor())(np.array([[1.0], [3.0]]), np.array([1.0, 1.0])) == 2.0


def test_only_a_searched_network_of_veils_width_priced_near_the_budget_is_checked():
    near = CapacityReport(chosen={}, estimated_seconds=2.9, searched=True)
    assert checks_compiled_latency(NeuralNetClassifier(), near)
    assert not checks_compiled_latency(NeuralNetClassifier(latency_budget=None), near)
    assert not checks_compiled_latency(NeuralNetClassifier(module__max_hidden_neurons=16), near)
    assert not checks_compiled_latency(NeuralNetClassifier(module__min_hidden_neurons=48), near)
    assert not checks_compiled_latency(NeuralNetClassifier(latency_budget=6.0), near)  # 2.9 s < 2/3 of 6
    assert not checks_compiled_latency(NeuralNetClassifier(), CapacityReport({}, 2.9, searched=False))


def test_fit_trims_a_searched_network_over_its_budget_and_the_file_keeps_it(iris, tmp_path, monkeypatch):
    # Priced 20 times dearer, iris' chosen network (well under 1 s) is over its 1.5 s budget.
    monkeypatch.setattr(_latency_check, "SECONDS_PER_COMPLEXITY_UNIT", 20 * SECONDS_PER_COMPLEXITY_UNIT)
    monkeypatch.setattr(_latency_check, "CHECKED_SHARE", 0.0)
    X, y = iris
    model = NeuralNetClassifier(latency_budget=1.5, **QUICK).fit(X, y)
    check = model.capacity_["latency_check"]
    assert model.capacity_["searched"] and check["removed_neurons"] > 0
    first, last = check["estimated_seconds"][0], check["estimated_seconds"][-1]
    assert first > 1.5 >= last
    lookups = model.quantized_module_.graph.table_lookup_count()
    assert lookups < model.base_module_to_compile.n_hidden_neurons
    model.dump(tmp_path / "trimmed.veil")
    loaded = veil.load(tmp_path / "trimmed.veil")
    assert loaded.quantized_module_.graph.table_lookup_count() == lookups
    assert loaded.capacity_["latency_check"] == check
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    model.compile(X)
    np.testing.assert_array_equal(model.predict(X[:20], fhe="simulate"), model.predict(X[:20]))


def test_the_rate_is_the_one_make_bench_accuracy_prices_circuits_at():
    from benchmarks.accuracy import load_lookup_costs
    from benchmarks.pbs import seconds_per_complexity_unit

    costs, _ = load_lookup_costs(Path(__file__).parents[2] / "benchmarks" / "results" / "2026-11-23.json")
    assert seconds_per_complexity_unit(costs) == pytest.approx(SECONDS_PER_COMPLEXITY_UNIT, rel=1e-6)
