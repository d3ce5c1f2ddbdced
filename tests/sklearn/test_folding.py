"""Folded inputs: the client's ``|z|`` features, the linear probe that decides them, their files."""

import io

import numpy as np
import pytest
import torch
from sklearn.datasets import make_circles, make_regression

import veil
from veil.deployment import FHEModelClient, FHEModelDev, FHEModelServer
from veil.qat import SparseQuantNeuralNetwork
from veil.qat._client_inputs import FoldedInputs
from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor
from veil.sklearn._capacity import validation_split
from veil.sklearn._folding import FOLD_MIN_GAIN, FOLD_MIN_ROWS, choose_folding
from veil.sklearn._params import client_normalization

pytestmark = pytest.mark.usefixtures("quiet_short_training")


def _raw_circles(n_rows=400):
    X, y = make_circles(n_rows, noise=0.1, factor=0.5, random_state=0)
    return X * [1e3, 1e-2] + [5.0, -3.0], y  # raw units, off-centre


def test_folded_inputs_are_the_distance_from_the_centre_normalized_again():
    fold = FoldedInputs(2)
    fold.set_statistics([0.8, 1.0], [0.6, 2.0])
    z = torch.tensor([[-1.4, 0.0], [0.2, 3.0]])
    expected = [[-1.4, 0.0, 1.0, -0.5], [0.2, 3.0, -1.0, 1.0]]
    np.testing.assert_allclose(fold(z).numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="folded inputs' normalization needs finite offsets and positive"):
        fold.set_statistics([0.0, 0.0], [1.0, 0.0])
    # The first layer reads twice the features; the width and the lookups follow the features alone.
    plain = SparseQuantNeuralNetwork(input_dim=5, n_layers=2, n_outputs=3)
    folded = SparseQuantNeuralNetwork(input_dim=5, n_layers=2, n_outputs=3, folded_inputs=True)
    assert folded.linears[0].in_features == 10 and plain.linears[0].in_features == 5
    assert folded.n_hidden_neurons == plain.n_hidden_neurons
    assert folded(torch.randn(4, 5)).shape == (4, 3)


def test_client_normalization_folds_around_each_features_centre_whatever_its_units():
    X, _ = _raw_circles()
    offset, scale, fold_offset, fold_scale = client_normalization(X, "robust")
    standardized = client_normalization((X - X.mean(axis=0)) / X.std(axis=0), "robust")
    # |z| has the same statistics whatever the units: a centred, unit-scale folded grid.
    np.testing.assert_allclose(fold_offset, standardized[2], rtol=1e-6)
    np.testing.assert_allclose(fold_scale, standardized[3], rtol=1e-6)
    folded = (np.abs((X - offset) / scale) - fold_offset) / fold_scale
    np.testing.assert_allclose(folded.mean(axis=0), 0.0, atol=0.05)


def test_the_linear_probe_folds_radial_data_and_leaves_linear_data_alone():
    X, y = _raw_circles()
    normalization = client_normalization(X, "robust")
    split = validation_split(X, y, True, 0)
    folded, report = choose_folding(None, split, True, normalization, 4.0)
    assert folded and report["folded_linear_score"] - report["linear_score"] >= FOLD_MIN_GAIN
    assert report["min_gain"] == pytest.approx(max(FOLD_MIN_GAIN, FOLD_MIN_ROWS / len(split[1])))
    assert report["linear_score"] < 0.7 < 0.9 < report["folded_linear_score"]
    X, y = make_regression(400, n_features=8, noise=1.0, random_state=0)
    normalization = client_normalization(X, "robust")
    folded, report = choose_folding(None, validation_split(X, y, False, 0), False, normalization, 4.0)
    assert not folded and abs(report["folded_linear_score"] - report["linear_score"]) < 0.01
    # On a small split the gain must also be ten rows' worth: on 16 rows, 0.56 is nine.
    X, y = _raw_circles(80)
    small = validation_split(X, y, True, 0)
    folded, report = choose_folding(None, small, True, client_normalization(X, "robust"), 4.0)
    assert len(small[1]) == 16 and report["min_gain"] == pytest.approx(10 / 16)
    assert not folded and report["folded_linear_score"] - report["linear_score"] > 0.5
    # A rare class past the probe's first 5,000 rows still reaches it; one class alone: not folded.
    rng = np.random.default_rng(0)
    X_many, y_many = rng.normal(size=(6000, 3)), np.zeros(6000, dtype=int)
    y_many[-2:] = 1
    rare = (X_many, X_many[:50], y_many, y_many[:50])
    assert choose_folding(None, rare, True, client_normalization(X_many, "robust"), 4.0)[1] is not None
    alone = (X_many, X_many[:50], np.zeros(6000, dtype=int), np.zeros(50, dtype=int))
    assert choose_folding(None, alone, True, client_normalization(X_many, "robust"), 4.0) == (False, None)
    # The user's value is never overridden; too few rows to measure: not folded.
    assert choose_folding(False, split, True, normalization, 4.0) == (False, None)
    assert choose_folding(None, None, True, normalization, 4.0) == (False, None)


def test_fit_reports_the_folding_and_keeps_an_explicit_choice():
    X, y = _raw_circles(200)
    params = {"module__n_layers": 2, "module__n_accum_bits": 4, "max_epochs": 4, "random_state": 0}
    chosen = NeuralNetClassifier(**params).fit(X, y).capacity_
    assert chosen["chosen"]["folded_inputs"] is True and chosen["folding"]["folded_inputs"] is True
    assert chosen["folding"]["folded_linear_score"] > 0.9
    kept = NeuralNetClassifier(**params, module__folded_inputs=False).fit(X, y)
    assert "folded_inputs" not in kept.capacity_["chosen"] and kept.capacity_["folding"] is None
    assert kept.module__folded_inputs is False and kept.skorch_net_.module_.fold is None
    regressor = NeuralNetRegressor(**params).fit(*make_regression(200, n_features=4, random_state=0))
    assert regressor.capacity_["folding"]["folded_inputs"] is False
    assert "folded_inputs" not in regressor.capacity_["chosen"]


def test_a_folded_network_runs_on_the_client_and_survives_files(tmp_path):
    X, y = _raw_circles()
    params = {"module__n_layers": 2, "module__n_accum_bits": 4, "max_epochs": 30, "random_state": 0}
    model = NeuralNetClassifier(**params, module__folded_inputs=True).fit(X[:300], y[:300])
    assert model.skorch_net_.module_.linears[0].in_features == 4
    assert model.score(X[300:], y[300:]) >= 0.95
    buffer = io.BytesIO()
    model.dump(buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(veil.load(buffer).predict_proba(X), model.predict_proba(X))
    model.compile(X[:300])
    np.testing.assert_array_equal(model.predict(X, fhe="simulate"), model.predict(X))
    FHEModelDev(tmp_path / "model", model).save()
    client = FHEModelClient(tmp_path / "model", key_dir=tmp_path / "keys")
    client.generate_private_and_evaluation_keys()
    rows = X[300:303]
    result = (
        FHEModelServer(tmp_path / "model")
        .load()
        .run(client.quantize_encrypt_serialize(rows), client.get_serialized_evaluation_keys())
    )
    np.testing.assert_array_equal(
        client.deserialize_decrypt_dequantize(result), model.predict_proba(rows, fhe="simulate")
    )


def test_a_folded_search_is_the_same_in_worker_processes():
    X, y = _raw_circles(200)
    params = {"max_epochs": 4, "random_state": 0, "accuracy_tolerance": 0.0, "latency_budget": 0.9}
    one = NeuralNetClassifier(**params).fit(X, y)
    two = NeuralNetClassifier(**params, n_jobs=2).fit(X, y)
    # With n_jobs=2 the candidates train in pairs in worker processes, the normalization pickled to them.
    assert one.capacity_["chosen"]["folded_inputs"] is True
    assert two.capacity_ == one.capacity_
    np.testing.assert_array_equal(two.predict_proba(X), one.predict_proba(X))
