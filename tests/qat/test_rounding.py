"""The integer model's accumulator rounding, as training sees it (``veil.qat._rounding``)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from veil.qat._rounding import removed_low_bits
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
def test_removed_low_bits_counts_as_the_graph_builder(span, kept, removed):
    assert removed_low_bits(span, kept) == removed


def test_trained_network_rounds_as_its_integer_model_does():
    X, y = make_classification(n_samples=300, n_features=12, n_informative=8, random_state=0)
    model = NeuralNetClassifier(
        module__n_layers=2,
        module__n_accum_bits=8,
        module__n_w_bits=3,
        module__n_a_bits=3,
        rounding_threshold_bits={"n_bits": 5, "method": "exact"},
        max_epochs=10,
        random_state=0,
    ).fit(X, y)
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
