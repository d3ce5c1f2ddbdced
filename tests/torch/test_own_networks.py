"""Users' own networks (issue 15): CNNs, 1-D convolutions, residual blocks, through PTQ and Brevitas QAT.

Each network: the integer model equals its FHE simulation on the whole test set, the encrypted run equals
the simulation on one row, and the quantized accuracy stays within 2 points of the float network.
"""

from __future__ import annotations

import brevitas.nn as qnn
import numpy as np
import pytest
import torch
from benchmarks.cnn import train_classifier
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from veil.torch import build_quantized_module, compile_brevitas_qat_model, compile_torch_model, torch_to_onnx

ROUNDING = {"n_bits": 6, "method": "exact"}
# 6-bit activations, 5-bit weights: the worst-case convolution accumulator stays at 18 bits, which concrete
# can still round to 6 bits at p_error 2**-32 (19 bits and 7 kept bits finds no parameters).
PTQ_BITS = {"model_inputs": 7, "op_inputs": 6, "op_weights": 5}


def train(factory, X: np.ndarray, y: np.ndarray, epochs: int) -> torch.nn.Module:
    """Build ``factory()`` from seed 0, then a few seconds of Adam on mini-batches of 32, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = train_classifier(factory(), X, y, epochs)
    torch.set_num_threads(threads)
    return model


def float_accuracy(model, X, y) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(X)).argmax(1).numpy() == y).mean())


def check_network(module, X_test, y_test, reference_accuracy: float) -> float:
    clear = module.forward(X_test)
    np.testing.assert_array_equal(module.forward(X_test, fhe="simulate"), clear)
    accuracy = float((clear.argmax(1) == y_test).mean())
    assert accuracy >= reference_accuracy - 0.02, (accuracy, reference_accuracy)
    return accuracy


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def digits_cnn() -> torch.nn.Sequential:
    """conv-relu-pool twice, then a linear layer: 8x8 -> 8x6x6 -> 8x3x3 -> 16x3x3 -> 16x2x2 -> 10."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2, stride=1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
    )


def digits_qat_cnn(bits: int) -> torch.nn.Sequential:
    """The same CNN with Brevitas quantizers: the QAT network carries its own integer grid."""
    return torch.nn.Sequential(
        qnn.QuantIdentity(bit_width=bits),
        qnn.QuantConv2d(1, 8, 3, weight_bit_width=bits),
        qnn.QuantReLU(bit_width=bits),
        torch.nn.AvgPool2d(2),
        qnn.QuantConv2d(8, 16, 3, padding=1, weight_bit_width=bits),
        qnn.QuantReLU(bit_width=bits),
        torch.nn.AvgPool2d(2, stride=1),
        torch.nn.Flatten(),
        qnn.QuantLinear(64, 10, bias=True, weight_bit_width=bits),
    )


@pytest.mark.heavy
def test_digits_cnn_post_training_quantization(digits):
    X_train, X_test, y_train, y_test = digits
    model = train(digits_cnn, X_train, y_train, epochs=20)
    module = compile_torch_model(model, X_train[:200], n_bits=PTQ_BITS, rounding_threshold_bits=ROUNDING)
    check_network(module, X_test, y_test, float_accuracy(model, X_test, y_test))
    np.testing.assert_array_equal(module.forward(X_test[:1], fhe="execute"), module.forward(X_test[:1]))


@pytest.mark.heavy
def test_digits_cnn_brevitas_qat(digits):
    X_train, X_test, y_train, y_test = digits
    model = train(lambda: digits_qat_cnn(bits=4), X_train, y_train, epochs=10)
    module = compile_brevitas_qat_model(model, X_train[:200], rounding_threshold_bits=ROUNDING)
    # The Brevitas network's own accuracy is the reference: the import must not lose any of it.
    check_network(module, X_test, y_test, float_accuracy(model, X_test, y_test))
    np.testing.assert_array_equal(module.forward(X_test[:1], fhe="execute"), module.forward(X_test[:1]))


def noisy_sines(n_rows: int, length: int = 32):
    """Two classes of noisy sine waves (2 or 5 periods, random phase), shape (n_rows, 1, length)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, n_rows)
    time = np.linspace(0, 1, length)
    phase = rng.uniform(0, 2 * np.pi, (n_rows, 1))
    waves = np.sin(2 * np.pi * (2 + 3 * labels)[:, None] * time + phase) + 0.3 * rng.normal(
        size=(n_rows, length)
    )
    return waves.astype(np.float32)[:, None, :], labels


@pytest.mark.heavy
def test_one_dimensional_convolution():
    X, y = noisy_sines(400)
    model = train(
        lambda: torch.nn.Sequential(
            torch.nn.Conv1d(1, 4, 5, stride=2),
            torch.nn.ReLU(),
            torch.nn.AvgPool1d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 7, 2),
        ),
        X[:300],
        y[:300],
        epochs=20,
    )
    module = compile_torch_model(model, X[:300], n_bits=6, rounding_threshold_bits=ROUNDING)
    check_network(module, X[300:], y[300:], float_accuracy(model, X[300:], y[300:]))
    np.testing.assert_array_equal(module.forward(X[300:301], fhe="execute"), module.forward(X[300:301]))


class ResidualBlock(torch.nn.Module):
    """``relu(x + linear(relu(linear(x))))``: the add joins two different encrypted tensors."""

    def __init__(self, width: int):
        super().__init__()
        self.inner = torch.nn.Sequential(
            torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, width)
        )

    def forward(self, x):
        return torch.relu(x + self.inner(x))


@pytest.mark.heavy
def test_mlp_with_two_residual_blocks():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    model = train(
        lambda: torch.nn.Sequential(
            torch.nn.Linear(30, 8), torch.nn.ReLU(), ResidualBlock(8), ResidualBlock(8), torch.nn.Linear(8, 2)
        ),
        X[:400],
        y[:400],
        epochs=30,
    )
    module = compile_torch_model(model, X[:400], n_bits=6, rounding_threshold_bits=ROUNDING)
    check_network(module, X[400:], y[400:], float_accuracy(model, X[400:], y[400:]))
    np.testing.assert_array_equal(module.forward(X[400:401], fhe="execute"), module.forward(X[400:401]))


class TwoInputs(torch.nn.Module):
    """Two feature groups, each through its own layer, joined by an add."""

    def __init__(self):
        super().__init__()
        self.left, self.right = torch.nn.Linear(15, 8), torch.nn.Linear(15, 8)
        self.head = torch.nn.Linear(8, 2)

    def forward(self, left, right):
        return self.head(torch.relu(self.left(left) + self.right(right)))


@pytest.mark.heavy
def test_two_input_network():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    left, right = X[:, :15], X[:, 15:]

    class Joined(TwoInputs):  # trains on the joined features through the same two layers
        def forward(self, x):
            return super().forward(x[:, :15], x[:, 15:])

    joined = train(Joined, X[:400], y[:400], epochs=30)
    model = TwoInputs()
    model.load_state_dict(joined.state_dict())
    model.eval()
    module = compile_torch_model(model, (left[:400], right[:400]), n_bits=6, rounding_threshold_bits=ROUNDING)
    with torch.no_grad():
        expected = model(torch.from_numpy(left[400:]), torch.from_numpy(right[400:])).numpy()
    reference = float((expected.argmax(1) == y[400:]).mean())
    clear = module.forward(left[400:], right[400:])
    np.testing.assert_array_equal(module.forward(left[400:], right[400:], fhe="simulate"), clear)
    assert float((clear.argmax(1) == y[400:]).mean()) >= reference - 0.02
    np.testing.assert_array_equal(module.forward(left[400:401], right[400:401], fhe="execute"), clear[:1])


def test_brevitas_conv_and_trunc_avg_pool_import_exactly():
    torch.manual_seed(0)
    X = np.random.default_rng(0).uniform(0, 1, (50, 1, 8, 8)).astype(np.float32)
    model = torch.nn.Sequential(
        qnn.QuantIdentity(bit_width=4),
        qnn.QuantConv2d(1, 4, 3, weight_bit_width=4),
        qnn.QuantReLU(bit_width=4, return_quant_tensor=True),
        qnn.TruncAvgPool2d(2, stride=2, bit_width=4),
        torch.nn.Flatten(),
        qnn.QuantLinear(36, 3, bias=True, weight_bit_width=4),
    ).eval()
    module = build_quantized_module(torch_to_onnx(model, X[:1]), X, n_bits=8, import_qat=True)
    with torch.no_grad():
        np.testing.assert_allclose(module.forward(X), model(torch.from_numpy(X)).numpy(), atol=1e-6)


class SharedQuantResidual(torch.nn.Module):
    """A residual add whose two branches go through one QuantIdentity: same scale, joined without lookups."""

    def __init__(self):
        super().__init__()
        self.input_quant = qnn.QuantIdentity(bit_width=4, return_quant_tensor=True)
        self.fc1 = qnn.QuantLinear(6, 6, bias=True, weight_bit_width=4)
        self.act = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
        self.fc2 = qnn.QuantLinear(6, 6, bias=True, weight_bit_width=4)
        self.shared = qnn.QuantIdentity(bit_width=4, return_quant_tensor=True)
        self.out = qnn.QuantLinear(6, 2, bias=True, weight_bit_width=4)

    def forward(self, x):
        hidden = self.act(self.fc1(self.input_quant(x)))
        return self.out(torch.relu(self.shared(hidden) + self.shared(self.fc2(hidden))))


def test_brevitas_residual_with_one_quant_identity_on_both_branches():
    X = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    torch.manual_seed(0)
    model = SharedQuantResidual().eval()
    module = build_quantized_module(torch_to_onnx(model, X[:1]), X, n_bits=8, import_qat=True)
    kinds = [type(node).__name__ for node in module.graph.nodes]
    # act, the shared quantizer on each branch, and the calibrated 8-bit input of `out`: no lookup to join.
    assert kinds.count("LookupNode") == 4
    with torch.no_grad():
        expected = model(torch.from_numpy(X)).numpy()
    assert np.abs(module.forward(X) - expected).max() < 0.01 * np.ptp(expected)
    # 4 bits where the network has no quantizer keeps the circuit small enough to compile in seconds.
    small = build_quantized_module(torch_to_onnx(model, X[:1]), X, n_bits=4, import_qat=True)
    small.compile(X)
    np.testing.assert_array_equal(small.forward(X, fhe="simulate"), small.forward(X))
