"""The integer model tracks the float model it came from, better with every bit."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from veil.torch import build_quantized_module, torch_to_onnx


@pytest.fixture(scope="module")
def breast_cancer_mlp():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = (scaler.transform(part).astype(np.float32) for part in (X_train, X_test))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    inputs, targets = torch.from_numpy(X_train), torch.from_numpy(y_train)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    return model.eval(), X_train, X_test, y_test


def test_six_bit_post_training_quantization_keeps_accuracy(breast_cancer_mlp):
    model, X_train, X_test, y_test = breast_cancer_mlp
    float_accuracy = (model(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean()
    module = build_quantized_module(torch_to_onnx(model, X_train[:1]), X_train, n_bits=6)
    quantized_accuracy = (module.forward(X_test).argmax(1) == y_test).mean()
    assert float_accuracy > 0.93
    assert quantized_accuracy >= float_accuracy - 0.02


def test_quantization_error_shrinks_as_bits_grow(breast_cancer_mlp):
    model, X_train, X_test, _ = breast_cancer_mlp
    onnx_model = torch_to_onnx(model, X_train[:1])
    expected = model(torch.from_numpy(X_test)).detach().numpy()
    errors = [
        np.abs(build_quantized_module(onnx_model, X_train, n_bits=bits).forward(X_test) - expected).mean()
        for bits in (2, 3, 4, 6, 8, 10)
    ]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 0.01 * np.abs(expected).mean()


def test_numpy_ops_agree_with_the_quantized_graph_at_high_precision(breast_cancer_mlp):
    """At 12 bits the integer graph is within a hair of the float model on rows inside the calibration range.

    (Rows outside it are clipped at the input quantizer, by design.)
    """
    model, X_train, _, _ = breast_cancer_mlp
    module = build_quantized_module(torch_to_onnx(model, X_train[:1]), X_train, n_bits=12)
    expected = model(torch.from_numpy(X_train)).detach().numpy()
    np.testing.assert_allclose(module.forward(X_train), expected, atol=5e-3 * np.abs(expected).max())
