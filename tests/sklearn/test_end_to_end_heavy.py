"""The default built-in network, encrypted for real on breast-cancer rows (slow: `make test-heavy`)."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from veil.sklearn import NeuralNetClassifier


@pytest.mark.heavy
def test_default_classifier_encrypted_equals_simulated_and_clear():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    model = NeuralNetClassifier(max_epochs=50, random_state=0).fit(X_train, y_train)
    circuit = model.compile(X_train)
    module = model.base_module_to_compile
    assert max(circuit.statistics.table_lookups_by_bit_width) <= module.n_accum_bits
    assert circuit.statistics.max_bit_width <= max(module.accumulator_budgets())

    clear = model.predict(X_test, fhe="disable")
    np.testing.assert_array_equal(model.predict(X_test, fhe="simulate"), clear)
    np.testing.assert_array_equal(model.predict(X_test[:3], fhe="execute"), clear[:3])
    assert np.mean(clear == y_test) > 0.9
