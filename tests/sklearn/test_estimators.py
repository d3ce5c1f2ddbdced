"""NeuralNetClassifier and NeuralNetRegressor: training, prediction in clear and FHE, parameters, errors."""

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch.utils.data import default_collate, default_convert

import veil
from veil.errors import InputValidationError, NotCompiledError
from veil.qat import GradualAccumulatorBudget, LateCosineDecay
from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor, SparseQuantNeuralNetwork

LABELS = np.array(["cat", "dog", "eel"])


@pytest.fixture(scope="module")
def classification_data():
    X, y = make_classification(
        n_samples=120, n_features=4, n_informative=3, n_redundant=0, n_classes=3, random_state=0
    )
    return train_test_split(X, LABELS[y], test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def fitted(classification_data, tiny):
    X_train, _, y_train, _ = classification_data
    return NeuralNetClassifier(**tiny).fit(X_train, y_train)


@pytest.fixture(scope="module")
def compiled(fitted, classification_data):
    model = copy.deepcopy(fitted)
    model.compile(classification_data[0])
    return model


@pytest.fixture(scope="module")
def regression_data():
    X, y = make_regression(n_samples=100, n_features=3, n_targets=2, random_state=0)
    return X, y / np.abs(y).max()


# -- classifier: fit and predict ------------------------------------------------------------------------
def test_fit_predict_round_trips_string_labels(fitted, classification_data):
    X_train, X_test, y_train, _ = classification_data
    predictions = fitted.predict(X_test)
    assert predictions.shape == (len(X_test),)
    assert set(predictions) <= set(LABELS)
    np.testing.assert_array_equal(fitted.classes_, LABELS)
    assert fitted.n_features_in_ == 4
    assert fitted.score(X_train, y_train) > 0.5


def test_predict_proba_rows_sum_to_one_and_agree_with_predict(fitted, classification_data):
    X_test = classification_data[1]
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(X_test))


def test_integer_model_matches_the_trained_torch_network(fitted, classification_data):
    X_test = classification_data[1].astype(np.float32)
    logits = fitted.infer(torch.from_numpy(X_test)).detach().numpy()
    assert logits.shape == (len(X_test), 3)
    np.testing.assert_array_equal(fitted.classes_[logits.argmax(axis=1)], fitted.predict(X_test))


def test_float64_and_float32_inputs_give_the_same_predictions(fitted, classification_data):
    X_test = classification_data[1]
    np.testing.assert_array_equal(fitted.predict(X_test), fitted.predict(X_test.astype(np.float32)))


def test_simulate_matches_clear_after_compile(compiled, classification_data):
    X_test = classification_data[1]
    assert compiled.fhe_circuit is not None
    np.testing.assert_array_equal(compiled.predict(X_test, fhe="simulate"), compiled.predict(X_test))
    np.testing.assert_array_equal(
        compiled.predict_proba(X_test, fhe="simulate"), compiled.predict_proba(X_test, fhe="disable")
    )


def test_execute_matches_simulate_on_two_rows(compiled, classification_data):
    X_rows = classification_data[1][:2]
    np.testing.assert_array_equal(
        compiled.predict_proba(X_rows, fhe="execute"), compiled.predict_proba(X_rows, fhe="simulate")
    )


def test_execute_on_many_rows_shows_a_progress_bar(compiled, classification_data, capsys):
    X_test = classification_data[1][:3]
    previous = veil.set_progress(True)  # pytest's captured stderr is not a terminal, where it is off
    try:
        predictions = compiled.predict(X_test, fhe="execute")
    finally:
        veil.set_progress(previous)
    np.testing.assert_array_equal(predictions, compiled.predict(X_test, fhe="simulate"))
    err = capsys.readouterr().err
    assert "FHE execution: 100%" in err and "3/3" in err


def test_fhe_modes_need_compile(fitted, classification_data):
    X_test = classification_data[1]
    for mode in ("simulate", "execute"):
        with pytest.raises(NotCompiledError, match=rf"not compiled: call compile\(X_train\).*fhe='{mode}'"):
            fitted.predict(X_test, fhe=mode)
    with pytest.raises(ValueError, match="fhe must be one of"):
        fitted.predict(X_test, fhe="encrypted")


def test_execute_in_fhe_is_deprecated(fitted, classification_data):
    X_test = classification_data[1]
    with pytest.warns(DeprecationWarning, match="execute_in_fhe is deprecated"):
        np.testing.assert_array_equal(fitted.predict(X_test, execute_in_fhe=False), fitted.predict(X_test))
    # True maps to fhe="execute", which needs a compiled model.
    with pytest.warns(DeprecationWarning), pytest.raises(NotCompiledError, match="fhe='execute'"):
        fitted.predict_proba(X_test, execute_in_fhe=True)
    with pytest.warns(DeprecationWarning), pytest.raises(NotCompiledError):
        fitted.predict(X_test, True)  # the reference's positional execute_in_fhe
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="not both"):
        fitted.predict(X_test, fhe="simulate", execute_in_fhe=True)


def test_module_parameters_route_to_the_torch_module(classification_data):
    X_train, _, y_train, _ = classification_data
    model = NeuralNetClassifier(
        module__n_layers=3,
        module__n_w_bits=4,
        module__n_accum_bits=8,
        module__n_hidden_neurons_multiplier=2,
        module__min_hidden_neurons=4,
        module__n_accum_bits_output=9,
        max_epochs=1,
    ).fit(X_train, y_train)
    module = model.base_module_to_compile
    assert isinstance(module, SparseQuantNeuralNetwork)
    assert (module.n_layers, module.n_w_bits, module.n_a_bits, module.n_accum_bits) == (3, 4, 3, 8)
    assert (module.input_dim, module.n_outputs) == (4, 3)
    assert module.linears[0].out_features == 8
    assert module.accumulator_budgets() == [8, 8, 9]
    assert model.get_sklearn_params()["hidden_layer_sizes"] == (8, 8)
    assert model.n_bits_quant == 3
    # Training ended with on_train_end: pruning is permanent, no reparametrization is left.
    assert not hasattr(module.linears[0], "weight_orig")


def test_training_parameters_reach_skorch(classification_data):
    X_train, _, y_train, _ = classification_data
    model = NeuralNetClassifier(
        max_epochs=3,
        batch_size=16,
        optimizer=torch.optim.SGD,
        lr=0.1,
        optimizer__momentum=0.5,
        random_state=0,
    ).fit(X_train, y_train)
    assert len(model.history) == 3
    net = model.skorch_net_
    assert isinstance(net.optimizer_, torch.optim.SGD)
    assert net.optimizer_.param_groups[0]["momentum"] == 0.5
    assert (net.batch_size, net.train_split, net.iterator_train__shuffle) == (16, None, True)


def test_callbacks_train_split_and_verbose_reach_skorch(classification_data, capsys):
    X_train, _, y_train, _ = classification_data

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    counter = CountEpochs()
    model = NeuralNetClassifier(
        max_epochs=2, callbacks=[("count", counter)], train_split=ValidSplit(4), verbose=1
    ).fit(X_train, y_train)
    assert counter.epochs == 2
    assert "valid_loss" in model.history[-1]
    assert "valid_loss" in capsys.readouterr().out


def test_batches_fetched_at_once_train_the_same_network_as_skorchs_row_by_row_loader(
    classification_data, tiny
):
    # A collate function of the user's own turns Veil's batch fetching off: skorch reads row by row.
    X_train, X_test, y_train, _ = classification_data
    batched = NeuralNetClassifier(**tiny).fit(X_train, y_train)
    by_row = NeuralNetClassifier(**tiny, iterator_train__collate_fn=default_collate).fit(X_train, y_train)
    assert batched.skorch_net_.iterator_train__collate_fn is default_convert
    assert by_row.skorch_net_.iterator_train__collate_fn is default_collate
    np.testing.assert_array_equal(batched.predict_proba(X_test), by_row.predict_proba(X_test))


def test_class_weights_via_criterion_weight(classification_data):
    X_train, _, y_train, _ = classification_data
    weights = compute_class_weight("balanced", classes=np.unique(y_train), y=y_train)
    model = NeuralNetClassifier(criterion__weight=weights, max_epochs=1).fit(X_train, y_train)
    np.testing.assert_allclose(model.skorch_net_.criterion_.weight.numpy(), weights, rtol=1e-6)
    with pytest.raises(InputValidationError, match="criterion__weight must hold one weight per class"):
        NeuralNetClassifier(criterion__weight=[1.0, 2.0], max_epochs=1).fit(X_train, y_train)


def test_same_random_state_same_model_and_torch_rng_untouched(classification_data):
    X_train, X_test, y_train, _ = classification_data
    rng_state = torch.random.get_rng_state()
    first = NeuralNetClassifier(max_epochs=2, random_state=3).fit(X_train, y_train)
    second = NeuralNetClassifier(max_epochs=2, random_state=3).fit(X_train, y_train)
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    np.testing.assert_array_equal(first.predict_proba(X_test), second.predict_proba(X_test))


def test_pandas_inputs(classification_data, tiny):
    X_train, X_test, y_train, _ = classification_data
    columns = ["a", "b", "c", "d"]
    model = NeuralNetClassifier(**tiny).fit(pd.DataFrame(X_train, columns=columns), pd.Series(y_train))
    np.testing.assert_array_equal(model.feature_names_in_, columns)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        from_array = model.predict(X_test.astype(np.float32))
    np.testing.assert_array_equal(model.predict(pd.DataFrame(X_test, columns=columns)), from_array)


def test_breast_cancer_accuracy():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    # batch_size=16: enough optimizer steps in 20 epochs for the activation quantizers to finish collecting
    # their statistics (Brevitas' default is 300 steps); with fewer, eval-mode scales differ from training.
    model = Pipeline(
        [
            ("scaler", StandardScaler()),
            ("net", NeuralNetClassifier(max_epochs=20, batch_size=16, random_state=0)),
        ]
    )
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.9


# -- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([[1.0, np.nan, 0.0, 0.0]]), "Input X contains NaN"),
        (np.array([[1.0, np.inf, 0.0, 0.0]]), "Input X contains infinity"),
        (np.zeros((2, 3)), "X has 3 features, but NeuralNetClassifier is expecting 4"),
        (np.zeros(4), "X must be 2-D of shape"),
        (np.array([["a", "b", "c", "d"]]), "X must contain numbers only"),
        (pd.DataFrame({"a": ["x"], "b": [1.0], "c": [1.0], "d": [1.0]}), "X must contain numbers only"),
    ],
)
@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
def test_invalid_prediction_inputs(fitted, X, message):
    with pytest.raises(ValueError, match=message):
        fitted.predict(X)


def test_invalid_training_data(classification_data):
    X_train, _, y_train, _ = classification_data
    model = NeuralNetClassifier(max_epochs=1)
    with pytest.raises(ValueError, match="requires y to be passed"):
        model.fit(X_train, None)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        model.fit(X_train, np.linspace(0, 1, len(X_train)))
    with pytest.raises(InputValidationError, match="same number of rows"):
        model.fit(X_train, y_train[:-1])
    with pytest.raises(InputValidationError, match=r"not in classes \['cat' 'dog'\]"):
        NeuralNetClassifier(classes=["cat", "dog"], max_epochs=1).fit(X_train, y_train)
    with pytest.raises(InputValidationError, match="X must contain numbers only"):
        model.fit(X_train.astype(str).astype(object) + "x", y_train)


def test_unfitted_model_errors(classification_data):
    model = NeuralNetClassifier()
    X_test = classification_data[1]
    for call in (model.predict, model.predict_proba, model.compile, model.infer):
        with pytest.raises(NotFittedError):
            call(X_test)
    with pytest.raises(NotFittedError):
        _ = model.history
    assert model.onnx_model is None
    assert model.fhe_circuit is None


def test_unknown_parameters_are_rejected(classification_data):
    X_train, _, y_train, _ = classification_data
    with pytest.raises(ValueError, match="Invalid parameter 'max_epoch'"):
        NeuralNetClassifier(max_epoch=3).fit(X_train, y_train)
    with pytest.raises(ValueError, match="Invalid parameter 'solver__tol'"):
        NeuralNetClassifier().set_params(solver__tol=1e-3)
    with pytest.raises(ValueError, match="module__input_dim is inferred from the training data"):
        NeuralNetClassifier(module__input_dim=3).fit(X_train, y_train)


# -- scikit-learn citizenship ---------------------------------------------------------------------------
def test_get_params_set_params_and_clone():
    model = NeuralNetClassifier(module__n_w_bits=4, optimizer__weight_decay=1e-4)
    params = model.get_params()
    assert params["module__n_w_bits"] == 4
    assert params["module__n_a_bits"] is None  # chosen at fit
    assert params["optimizer__weight_decay"] == 1e-4
    assert params["criterion"] is None  # the task's loss, resolved at fit
    assert NeuralNetClassifier()._criterion() is torch.nn.CrossEntropyLoss
    assert NeuralNetRegressor()._criterion() is torch.nn.MSELoss

    assert model.set_params(module__n_layers=4, max_epochs=2, iterator_train__num_workers=0) is model
    cloned = clone(model)
    assert cloned is not model
    assert cloned.get_params() == model.get_params()
    assert (cloned.module__n_layers, cloned.max_epochs, cloned.iterator_train__num_workers) == (4, 2, 0)
    assert "iterator_train__num_workers=0" in repr(cloned)


def test_pickle_round_trip(compiled, classification_data):
    X_test = classification_data[1]
    restored = pickle.loads(pickle.dumps(compiled))
    np.testing.assert_array_equal(restored.predict_proba(X_test), compiled.predict_proba(X_test))
    x = torch.from_numpy(X_test.astype(np.float32))
    assert torch.equal(restored.infer(x), compiled.infer(x))
    assert len(restored.history) == len(compiled.history)
    assert restored.onnx_model == compiled.onnx_model
    # The circuit does not pickle: the restored model compiles again.
    assert compiled.fhe_circuit is not None and restored.fhe_circuit is None
    with pytest.raises(NotCompiledError):
        restored.predict(X_test, fhe="simulate")


def test_grid_search_over_module_parameters(classification_data):
    X_train, _, y_train, _ = classification_data
    grid = {"module__n_w_bits": [2, 3], "module__n_layers": [1, 2]}
    search = GridSearchCV(NeuralNetClassifier(max_epochs=2, lr=0.05, random_state=0), grid, cv=2)
    search.fit(X_train, y_train)
    assert search.best_params_["module__n_w_bits"] in (2, 3)
    best_module = search.best_estimator_.base_module_to_compile
    assert best_module.n_layers == search.best_params_["module__n_layers"]


def test_pipeline_with_a_scaler(classification_data, tiny):
    X_train, X_test, y_train, _ = classification_data
    pipeline = Pipeline([("scaler", StandardScaler()), ("net", NeuralNetClassifier(**tiny))])
    pipeline.fit(X_train * 100, y_train)
    assert pipeline.predict(X_test * 100).shape == (len(X_test),)


def test_properties_after_fit(compiled, tiny):
    assert compiled.onnx_model is not None
    assert len(compiled.input_quantizers) == 1 and len(compiled.output_quantizers) == 1
    assert compiled.base_estimator_type is MLPClassifier
    assert NeuralNetRegressor.base_estimator_type is MLPRegressor
    assert len(compiled.history) == tiny["max_epochs"]
    statistics = compiled.fhe_circuit.statistics
    assert max(statistics.table_lookups_by_bit_width) <= tiny["module__n_accum_bits"]
    assert statistics.max_bit_width <= compiled.base_module_to_compile.output_accum_bits == 7


# -- pruning and benchmark ------------------------------------------------------------------------------
def _active_hidden_neurons(model) -> int:
    first = model.base_module_to_compile.linears[0]
    return int((first.weight.detach().abs().sum(dim=1) > 0).sum())


def test_prune_returns_a_new_model_with_fewer_neurons(classification_data):
    X_train, X_test, y_train, _ = classification_data
    model = NeuralNetClassifier(module__n_layers=2, module__n_accum_bits=10, max_epochs=3, random_state=0)
    model.fit(X_train, y_train)
    before = model.predict_proba(X_test)

    pruned = model.prune(X_train, y_train, 0.5)
    assert pruned is not model
    assert pruned.module__n_prune_neurons_percentage == 0.5
    assert model.module__n_prune_neurons_percentage == 0.0
    assert _active_hidden_neurons(pruned) <= 16 < _active_hidden_neurons(model)  # 32 hidden neurons
    # Pruned neurons cost no table lookup: the integer graph keeps only active ones (not all 16).
    assert pruned.quantized_module_.graph.table_lookup_count() <= _active_hidden_neurons(pruned)
    np.testing.assert_array_equal(model.predict_proba(X_test), before)  # the original is unchanged
    assert pruned.predict(X_test).shape == (len(X_test),)

    with pytest.raises(ValueError, match="already pruned"):
        pruned.prune(X_train, y_train, 0.2)
    with pytest.raises(ValueError, match=r"n_prune_neurons_percentage must be in \(0, 1\)"):
        model.prune(X_train, y_train, 1.5)
    with pytest.raises(InputValidationError, match="not in classes"):
        model.prune(X_train, np.where(y_train == "cat", "cow", y_train), 0.5)
    with pytest.raises(NotFittedError):
        NeuralNetClassifier().prune(X_train, y_train, 0.5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # a few epochs, on purpose
def test_fit_benchmark_returns_the_model_and_a_float_mlp(classification_data, regression_data, tiny):
    X_train, _, y_train, _ = classification_data
    model = NeuralNetClassifier(**tiny)
    fitted_model, mlp = model.fit_benchmark(X_train, y_train)
    assert fitted_model is model and hasattr(model, "quantized_module_")
    assert isinstance(mlp, MLPClassifier) and hasattr(mlp, "coefs_")
    assert mlp.hidden_layer_sizes == (32,)  # 4 features, at least 32 neurons, one hidden layer
    assert model.get_sklearn_params()["learning_rate_init"] == tiny["lr"]

    X, y = regression_data
    regressor, mlp = NeuralNetRegressor(module__n_layers=3, max_epochs=2).fit_benchmark(X, y)
    assert isinstance(mlp, MLPRegressor) and mlp.hidden_layer_sizes == (32, 32)  # at least 32 neurons
    assert mlp.predict(X).shape == regressor.predict(X).shape == y.shape


# -- regressor ------------------------------------------------------------------------------------------
def test_regressor_output_shapes(regression_data, tiny):
    X, y = regression_data
    one = NeuralNetRegressor(**tiny).fit(X, y[:, 0])
    assert one.predict(X).shape == (len(X),)
    assert one.n_outputs_ == 1
    two = NeuralNetRegressor(**tiny).fit(X, y.astype(np.float32))
    assert two.predict(X).shape == (len(X), 2)
    assert two.base_module_to_compile.n_outputs == 2


def test_regressor_learns(regression_data):
    X, y = regression_data
    model = NeuralNetRegressor(module__n_layers=2, max_epochs=30, lr=0.01, batch_size=16, random_state=0)
    assert model.fit(X, y[:, 0]).score(X, y[:, 0]) > 0.5


def test_regressor_simulate_matches_clear(regression_data, tiny):
    X, y = regression_data
    model = NeuralNetRegressor(**tiny).fit(X, y)
    model.compile(X)
    np.testing.assert_array_equal(model.predict(X[:10], fhe="simulate"), model.predict(X[:10]))


def test_regressor_casts_integer_targets_to_float(regression_data):
    X, y = regression_data
    integers = (y[:, 0] * 10).astype(int)
    params = {"module__n_accum_bits": 4, "max_epochs": 2, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        from_integers = NeuralNetRegressor(**params).fit(X, integers)
        from_floats = NeuralNetRegressor(**params).fit(X, integers.astype(np.float32))
    np.testing.assert_array_equal(from_integers.predict(X), from_floats.predict(X))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        NeuralNetRegressor(max_epochs=1).fit(X, np.full(len(X), np.nan))


def test_gradual_budget_schedule_tightens_to_the_real_budget():
    schedule = GradualAccumulatorBudget(start_bits=8, ramp_fraction=0.6)
    slacks = [schedule.slack_bits(epoch, 50) for epoch in range(50)]
    assert slacks[0] == 8 and slacks[29] == 0 and slacks[30:] == [0] * 20
    assert all(a >= b for a, b in zip(slacks[:-1], slacks[1:], strict=True))
    assert GradualAccumulatorBudget(ramp_fraction=0).slack_bits(0, 10) == 0


def test_fit_runs_the_budget_schedule_before_user_callbacks():
    seen = []

    class RecordSlack(Callback):
        def on_epoch_begin(self, net, **kwargs):
            seen.append(net.module_.budget_slack_bits)

    X, y = make_classification(n_samples=64, n_features=6, n_informative=4, random_state=0)
    model = NeuralNetClassifier(
        max_epochs=5, callbacks=[RecordSlack()], module__n_accum_bits=4, random_state=0
    )
    model.fit(X.astype(np.float32), y)
    assert seen == [8, 2, 0, 0, 0]  # cubic, closed at 60% of the epochs
    module = model.base_module_to_compile
    assert module.budget_slack_bits == 0
    assert module.accumulator_bit_widths()[0] <= module.n_accum_bits == 4
    # The schedule is a named skorch callback: its parameters route like any other.
    slow = NeuralNetClassifier(
        max_epochs=2, callbacks__accumulator_budget__start_bits=0, module__n_accum_bits=4, random_state=0
    )
    assert (
        dict(slow.fit(X.astype(np.float32), y).skorch_net_.callbacks_)["accumulator_budget"].start_bits == 0
    )


def test_lr_decay_holds_then_anneals_the_weights_and_stops_the_scales():
    decay = LateCosineDecay(hold_fraction=0.6, scales_fraction=0.9)
    factors = [decay.factor(epoch, 50) for epoch in range(50)]
    assert factors[:31] == [1.0] * 31  # epoch 30 starts the cosine at its top
    assert factors[40] == pytest.approx(0.5)
    assert 0 < factors[49] < 0.01
    assert all(a > b for a, b in zip(factors[30:-1], factors[31:], strict=True))
    assert [decay.scales_factor(epoch, 50) for epoch in range(50)] == [1.0] * 45 + [0.0] * 5
    assert LateCosineDecay(hold_fraction=0).factor(0, 10) == 1.0
    assert LateCosineDecay(scales_fraction=1).scales_factor(9, 10) == 1.0
    with pytest.raises(ValueError, match=r"hold_fraction must be in \[0, 1\), got 1"):
        LateCosineDecay(hold_fraction=1).factor(0, 10)
    with pytest.raises(ValueError, match=r"scales_fraction must be in \(0, 1\], got 0"):
        LateCosineDecay(scales_fraction=0).scales_factor(0, 10)


def test_fit_anneals_the_weights_rate_and_stops_the_learned_scales_last():
    rates = []

    class RecordRates(Callback):
        def on_epoch_begin(self, net, **kwargs):
            rates.append([group["lr"] for group in net.optimizer_.param_groups])

    X, y = make_classification(n_samples=64, n_features=6, n_informative=4, random_state=0)
    X = X.astype(np.float32)
    model = NeuralNetClassifier(
        max_epochs=10, lr=0.01, callbacks=[RecordRates()], module__n_accum_bits=4, random_state=0
    ).fit(X, y)
    scales_group, weights_group = model.skorch_net_.optimizer_.param_groups
    module = model.base_module_to_compile
    assert {id(p) for p in scales_group["params"]} == {id(p) for p in module.learned_scales()}
    assert len(weights_group["params"]) == 2 * module.n_layers  # every weight and bias
    assert [r[0] for r in rates] == [0.01] * 9 + [0.0]
    # The cosine starts at epoch 6 (60% of 10) and falls over the last 4 epochs.
    assert [r[1] for r in rates] == pytest.approx([0.01] * 7 + [0.008536, 0.005, 0.001464], abs=1e-6)
    # Named like the budget callback: its parameters route, and None switches it off.
    rates.clear()
    NeuralNetClassifier(
        max_epochs=3, callbacks=[RecordRates()], callbacks__lr_decay=None, module__n_accum_bits=4
    ).fit(X, y)
    assert rates == [[0.005, 0.005]] * 3
    held = NeuralNetClassifier(max_epochs=2, callbacks__lr_decay__hold_fraction=0.5, random_state=0)
    assert dict(held.fit(X, y).skorch_net_.callbacks_)["lr_decay"].hold_fraction == 0.5


def test_fit_too_short_to_learn_the_scales_warns():
    X, y = make_classification(n_samples=64, n_features=6, n_informative=4, random_state=0)
    # 2 epochs of 16 steps: on data this small the default batch shrinks to 4
    with pytest.warns(ConvergenceWarning, match="training stopped 269 optimizer steps before .* learn"):
        NeuralNetClassifier(max_epochs=2, module__n_accum_bits=4, random_state=0).fit(X.astype(np.float32), y)


def test_mid_rise_inputs_are_shifted_on_the_client_before_quantization():
    X, y = make_classification(n_samples=80, n_features=5, n_informative=3, random_state=0)
    X = X.astype(np.float32)
    model = NeuralNetClassifier(max_epochs=3, input_normalization=None, random_state=0).fit(X, y)
    shift = float(model.base_module_to_compile.input_shift)
    quantizer = model.input_quantizers[0]
    assert shift > 0  # half the input step (tested after the scale statistics in test_qnn_module)
    expected = (
        np.clip(np.rint((X - shift) / quantizer.scale), quantizer.qmin, quantizer.qmax) - quantizer.qmin
    )
    np.testing.assert_array_equal(model.quantized_module_.quantize_input(X), expected)
    model.compile(X)
    np.testing.assert_array_equal(model.predict(X, fhe="simulate"), model.predict(X, fhe="disable"))
    tread = NeuralNetClassifier(max_epochs=3, module__mid_rise_inputs=False, random_state=0).fit(X, y)
    assert float(tread.base_module_to_compile.input_shift) == 0.0
