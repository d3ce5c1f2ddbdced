"""One prediction path: inputs validated once at the boundary, one row loop with one progress display,
post-processing defined once (the estimators and the deployment client share it)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

import veil
from veil.errors import InputValidationError, ServiceError, TokenConfigError, VeilError
from veil.quantization import QuantizedModule, class_labels, class_probabilities, regression_values
from veil.sklearn import NeuralNetClassifier
from veil.torch import compile_torch_model

SMALL_BITS = {"model_inputs": 2, "op_inputs": 2, "op_weights": 2, "model_outputs": 3}


@pytest.fixture
def progress_on():
    previous = veil.set_progress(True)
    yield
    veil.set_progress(previous)


@pytest.fixture(scope="module")
def rows():
    return np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def float_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))


@pytest.fixture(scope="module")
def module(float_mlp, rows):
    return compile_torch_model(float_mlp, rows, n_bits=SMALL_BITS, rounding_threshold_bits=3)


@pytest.fixture(scope="module")
def classifier(tiny):
    X, y = make_classification(n_samples=80, n_features=4, n_informative=3, n_redundant=0, random_state=0)
    return NeuralNetClassifier(**tiny).fit(X, y), X


@pytest.mark.parametrize("mode", ["disable", "simulate"])
def test_forward_of_trusted_rows_equals_the_validated_path(module, rows, mode):
    expected = module.dequantize_output(module.quantized_forward(module.quantize_input(rows), fhe=mode))
    np.testing.assert_array_equal(module.forward(rows, fhe=mode), expected)
    np.testing.assert_array_equal(module.forward(rows, fhe=mode, check_input=False), expected)


def test_the_module_checks_its_inputs_unless_told_they_are_checked(module):
    with pytest.raises(InputValidationError, match="x contains NaN or infinite values"):
        module.forward(np.full((2, 4), np.nan))


def test_compile_and_encrypted_rows_show_progress_when_on(float_mlp, rows, progress_on, capsys):
    module = compile_torch_model(float_mlp, rows, n_bits=SMALL_BITS, rounding_threshold_bits=3)
    assert "FHE compilation: 2/2 circuits" in capsys.readouterr().err
    encrypted = module.forward(rows[:3], fhe="execute")
    err = capsys.readouterr().err
    assert "FHE execution: 100%" in err and "3/3" in err
    np.testing.assert_array_equal(encrypted, module.forward(rows[:3], fhe="disable"))
    module.forward(rows, fhe="simulate")  # 40 rows: one call of the 128-row circuit, nothing to count
    assert capsys.readouterr().err == ""


def test_compile_and_encrypted_rows_are_quiet_when_stderr_is_not_a_terminal(float_mlp, rows, capsys):
    module = compile_torch_model(float_mlp, rows, n_bits=SMALL_BITS, rounding_threshold_bits=3)
    module.forward(rows[:2], fhe="execute")
    assert capsys.readouterr().err == ""


def test_the_estimator_validates_its_inputs_once(classifier, monkeypatch):
    model, X = classifier

    def second_validation(self, xs):
        raise AssertionError("the module validated rows the estimator had validated")

    monkeypatch.setattr(QuantizedModule, "_validate_input", second_validation)
    model.compile(X)
    np.testing.assert_array_equal(  # an exact circuit: simulation gives the clear integers
        model.predict_proba(X, fhe="simulate"), model.predict_proba(X, fhe="disable")
    )
    with pytest.raises(InputValidationError, match="X must contain numbers only"):
        model.predict(np.array([["a", "b", "c", "d"]]))  # the estimator's own gate answers


def test_training_shows_epochs_loss_and_accumulator_budget_when_on(progress_on, capsys, tiny):
    X, y = make_classification(n_samples=64, n_features=4, n_informative=3, n_redundant=0, random_state=1)
    model = NeuralNetClassifier(**tiny).fit(X, y)
    err = capsys.readouterr().err
    # The last epoch: its loss, and the budget the gradual schedule has closed to (8 bits looser at first).
    loss = f"{model.history[-1, 'train_loss']:.3g}"
    assert "training 2 layers: 100%|" in err
    assert "| 5/5 [" in err and f"<00:00, loss {loss}, accumulators 5 bits]" in err


def test_training_is_quiet_when_stderr_is_not_a_terminal_or_skorch_prints_its_table(capsys, tiny):
    X, y = make_classification(n_samples=64, n_features=4, n_informative=3, n_redundant=0, random_state=1)
    NeuralNetClassifier(**tiny).fit(X, y)
    assert capsys.readouterr().err == ""
    previous = veil.set_progress(True)
    try:
        NeuralNetClassifier(**{**tiny, "verbose": 1}).fit(X, y)
    finally:
        veil.set_progress(previous)
    captured = capsys.readouterr()
    assert captured.err == "" and "train_loss" in captured.out


def test_post_processing_numbers():
    logits = np.array([[0.0, 1.0, 0.5], [2.0, -1.0, 2.5]])
    probabilities = class_probabilities(logits)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(probabilities[0], np.exp([0.0, 1.0, 0.5]) / np.exp([0.0, 1.0, 0.5]).sum())
    np.testing.assert_array_equal(class_labels(logits, np.array(["a", "b", "c"])), ["b", "c"])
    np.testing.assert_array_equal(regression_values(np.array([[1.5], [2.5]])), [1.5, 2.5])
    assert regression_values(np.ones((2, 3))).shape == (2, 3)


def test_every_public_error_type_lives_in_veil_errors():
    import veil.deployment
    from veil.deployment import _auth

    assert veil.deployment.ServiceError is ServiceError
    assert _auth.TokenConfigError is TokenConfigError
    assert issubclass(ServiceError, VeilError) and issubclass(ServiceError, RuntimeError)
    assert issubclass(TokenConfigError, VeilError) and issubclass(TokenConfigError, ValueError)
    assert str(ServiceError(404, "unknown key id")) == "HTTP 404: unknown key id"
