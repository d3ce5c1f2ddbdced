"""The compiled circuit of a trained built-in network never exceeds the accumulator budget."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from veil.sklearn import NeuralNetClassifier

# (n_w_bits, n_a_bits, n_accum_bits, n_layers, activation): bits 2-4, budgets 6-10, 1-4 layers.
SWEEP = [
    (2, 2, 6, 1, torch.nn.ReLU),
    (2, 3, 6, 2, torch.nn.ReLU),
    (3, 3, 7, 3, torch.nn.Sigmoid),
    (3, 2, 8, 2, torch.nn.Tanh),
    (4, 3, 9, 2, torch.nn.GELU),
    (2, 4, 10, 4, torch.nn.ReLU),
    (4, 4, 10, 3, torch.nn.LeakyReLU),
]


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=160, n_features=12, n_informative=6, n_classes=3, random_state=0)
    return X.astype(np.float32), y


@pytest.mark.parametrize(("n_w_bits", "n_a_bits", "n_accum_bits", "n_layers", "activation"), SWEEP)
def test_compiled_bit_width_stays_within_the_budget(
    data, n_w_bits, n_a_bits, n_accum_bits, n_layers, activation
):
    X, y = data
    model = NeuralNetClassifier(
        module__n_w_bits=n_w_bits,
        module__n_a_bits=n_a_bits,
        module__n_accum_bits=n_accum_bits,
        module__n_layers=n_layers,
        module__activation_function=activation,
        lr=0.05,  # large steps push weights to the extremes the budget must still contain
        max_epochs=3,
        random_state=0,
    ).fit(X, y)
    circuit = model.compile(X)
    # Lookups read hidden accumulators: n_accum_bits. The output accumulator, decrypted without a
    # lookup, has its own budget (7 bits by default) and may set the circuit's largest width.
    assert max(circuit.statistics.table_lookups_by_bit_width, default=0) <= n_accum_bits
    assert model.quantized_module_.predicted_max_bit_width <= max(n_accum_bits, 7)
    assert circuit.statistics.max_bit_width == model.quantized_module_.predicted_max_bit_width
    np.testing.assert_array_equal(model.predict(X, fhe="simulate"), model.predict(X, fhe="disable"))
