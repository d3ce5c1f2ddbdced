"""The integer model's accumulator rounding, as training sees it (``veil.qat._rounding``)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

import veil
from veil.qat import SparseQuantNeuralNetwork
from veil.qat._layer_integers import integer_weight
from veil.qat._rounding import rounding_error
from veil.quantization._integer_graph import removed_low_bits
from veil.sklearn import NeuralNetClassifier

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


@pytest.mark.parametrize(
    ("span", "kept", "removed"),
    [
        (63, 6, 0),  # fits: nothing removed
        (250, 6, 2),  # 8 bits to 6
        (252, 6, 2),  # 252 is a multiple of 4: no carry
        (254, 6, 3),  # 254 rounds up to 256, a ninth bit: one more bit removed
        (255, 5, 4),  # 255 rounds up to 256 at 3 bits removed too
        (200, 5, 3),
    ],
)
def test_removed_low_bits_keeps_the_lookup_width_when_rounding_carries(span, kept, removed):
    assert removed_low_bits(span, kept) == removed


def _rounded_model(X, y) -> NeuralNetClassifier:
    return NeuralNetClassifier(
        module__n_layers=2,
        module__n_accum_bits=8,
        module__n_w_bits=3,
        module__n_a_bits=3,
        rounding_threshold_bits={"n_bits": 5, "method": "exact"},
        max_epochs=10,
        random_state=0,
    ).fit(X, y)


def test_trained_network_rounds_as_its_integer_model_does(tmp_path):
    X, y = make_classification(n_samples=300, n_features=12, n_informative=8, random_state=0)
    model = _rounded_model(X, y)
    module = model.skorch_net_.module_.eval()
    assert module.rounding_kept_bits == 5
    integer_outputs = model.quantized_module_.forward(X.astype(np.float32), fhe="disable")
    with torch.no_grad():
        rounded = module(torch.as_tensor(X, dtype=torch.float32)).numpy()
        module.set_accumulator_rounding(None)
        unrounded = module(torch.as_tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(rounded, integer_outputs, rtol=1e-4, atol=1e-4)
    # Without the rounding, the torch network is not the integer model: the check above can fail.
    assert np.abs(unrounded - integer_outputs).max() > 1e-2
    model.dump(tmp_path / "rounded.veil")
    loaded = veil.load(tmp_path / "rounded.veil").skorch_net_.module_
    with torch.no_grad():
        np.testing.assert_allclose(loaded(torch.as_tensor(X, dtype=torch.float32)).numpy(), rounded)


def test_pruned_copy_fine_tunes_with_the_rounding_of_its_integer_model():
    X, y = make_classification(n_samples=300, n_features=12, n_informative=8, random_state=0)
    pruned = _rounded_model(X, y).prune(X, y, 0.5)
    module = pruned.skorch_net_.module_.eval()
    assert module.rounding_kept_bits == 5
    integer_outputs = pruned.quantized_module_.forward(X.astype(np.float32), fhe="disable")
    with torch.no_grad():
        torch_outputs = module(torch.as_tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(torch_outputs, integer_outputs, rtol=1e-4, atol=1e-4)


def test_rounding_error_moves_each_accumulator_to_the_nearest_kept_step():
    torch.manual_seed(0)
    net = SparseQuantNeuralNetwork(input_dim=12, n_layers=2, n_outputs=2, n_accum_bits=8, n_w_bits=3)
    net.eval()
    with torch.no_grad():
        quant_input = net.input_quant(3 * torch.randn(64, 12))
    linear, (low, high) = net.linears[0], net._input_ranges[0]
    error = rounding_error(linear, quant_input, (low, high), 5)
    weight = torch.as_tensor(integer_weight(linear, quant_input), dtype=torch.float32)
    lowest = torch.minimum(weight * low, weight * high).sum(dim=1)
    span = int((torch.maximum(weight * low, weight * high).sum(dim=1) - lowest).max())
    removed = removed_low_bits(span, 5)
    assert removed > 0  # a layer that keeps every bit would make the checks below vacuous
    stored = torch.round(quant_input.value / quant_input.scale) @ weight.T - lowest
    unit = quant_input.scale.reshape(()) * linear.quant_weight().scale.reshape(-1)
    rounded = stored + error / unit
    step = 2**removed
    steps = (rounded / step).detach().numpy()
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert float((rounded - stored).abs().max()) <= step / 2 + 1e-3
