"""The benchmark CNN keeps its accumulators in budget, and Veil's import reads the same small lookups."""

import numpy as np
import pytest
import torch
from benchmarks.cnn import _digits, digits_cnn, train_classifier

from veil.quantization._integer_graph import LookupNode
from veil.torch import build_quantized_module, torch_to_onnx


@pytest.fixture(scope="module")
def small_cnn():
    X_train, X_test, y_train, y_test = _digits()
    torch.manual_seed(0)
    model, masks = digits_cnn(channels=(4, 8), accumulator_bits=(4, 5, 7))
    # 8 epochs of 42 steps: past the 300 steps in which Brevitas' activation quantizers collect statistics
    # (before that, its eval forward and its export disagree); the budgets close after the fourth epoch.
    return train_classifier(model, X_train, y_train, epochs=8, masks=masks), masks, X_train


def test_baked_masks_keep_every_accumulator_within_its_budget(small_cnn):
    _, masks, _ = small_cnn
    widths = [layer.accumulator_bit_width() for layer in masks.layers]
    assert all(width <= budget for width, budget in zip(widths, (4, 5, 7), strict=True)), widths
    # The budgets bind: the first layer (16 inputs per output) lost weights to its 4-bit budget.
    first_layer_weights = masks.layers[0].integer_weights()
    assert np.count_nonzero(first_layer_weights) < first_layer_weights.size


def test_veil_reads_lookups_no_wider_than_the_budgets(small_cnn):
    model, _, X_train = small_cnn
    onnx_model = torch_to_onnx(model, X_train[:1])
    module = build_quantized_module(onnx_model, X_train[:100], n_bits=8, import_qat=True)
    lookups = [node for node in module.graph.nodes if isinstance(node, LookupNode)]
    widths = [node.input_bit_width for node in lookups]
    assert len(widths) == 2 and widths[0] <= 4 and widths[1] <= 5, widths
    assert [node.lsbs_to_remove for node in lookups] == [0, 0]  # no rounding needed
    with torch.no_grad():
        expected = model(torch.from_numpy(X_train[:100])).numpy()
    np.testing.assert_allclose(module.forward(X_train[:100]), expected, atol=1e-5)


def test_default_design_is_one_strided_convolution_with_one_budget_per_layer():
    model, masks = digits_cnn()
    assert [type(step).__name__ for step in model] == [
        "QuantIdentity", "QuantConv2d", "QuantReLU", "Flatten", "QuantLinear"
    ]  # fmt: skip
    assert (model[1].stride, model[1].out_channels, model[4].in_features) == ((2, 2), 28, 252)
    assert [layer.budget_bits for layer in masks.layers] == [4, 10]
    with pytest.raises(ValueError, match=r"one budget per layer \(3\), got \(5, 7\)"):
        digits_cnn(channels=(4, 8), accumulator_bits=(5, 7))
