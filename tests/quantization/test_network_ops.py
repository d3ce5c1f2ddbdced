"""The integer graph of convolutions, poolings, joins and products: bounds, accuracy, clear == simulate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from veil.errors import InputValidationError
from veil.quantization import QuantizedModule
from veil.torch import build_quantized_module, torch_to_onnx

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 1, size=(40, 2, 6, 6)).astype(np.float32)
VECTORS = RNG.normal(size=(40, 5)).astype(np.float32)


class Branches(torch.nn.Module):
    """Two linear branches of one input, joined by ``how`` (add, sub, mul, concat)."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.a, self.b = torch.nn.Linear(5, 4), torch.nn.Linear(5, 4)
        self.head = torch.nn.Linear(8 if how == "concat" else 4, 3)

    def forward(self, x):
        a, b = torch.relu(self.a(x)), self.b(x)
        joined = {"add": a + b, "sub": a - b, "mul": a * b, "concat": torch.cat([a, b], dim=1)}[self.how]
        return self.head(joined)


def conv_net(*layers) -> torch.nn.Sequential:
    return torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.LazyLinear(3))


NETWORKS = {
    "conv-stride-pad": (
        lambda: conv_net(torch.nn.Conv2d(2, 3, 3, stride=2, padding=1), torch.nn.ReLU()),
        IMAGES,
    ),
    "conv-dilation-groups": (
        lambda: conv_net(torch.nn.Conv2d(2, 4, 2, dilation=2, groups=2), torch.nn.ReLU()),
        IMAGES,
    ),
    "depthwise-bn": (
        lambda: conv_net(torch.nn.Conv2d(2, 2, 3, groups=2), torch.nn.BatchNorm2d(2), torch.nn.ReLU()),
        IMAGES,
    ),
    "avgpool": (
        lambda: conv_net(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.AvgPool2d(2, padding=1)),
        IMAGES,
    ),
    "maxpool": (lambda: conv_net(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2)), IMAGES),
    "global-avgpool": (
        lambda: conv_net(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1)),
        IMAGES,
    ),
    "add": (lambda: Branches("add"), VECTORS),
    "sub": (lambda: Branches("sub"), VECTORS),
    "mul": (lambda: Branches("mul"), VECTORS),
    "concat": (lambda: Branches("concat"), VECTORS),
}


def build(name: str, n_bits, rounding=None) -> tuple[QuantizedModule, torch.nn.Module, np.ndarray]:
    factory, X = NETWORKS[name]
    torch.manual_seed(0)
    model = factory()
    with torch.no_grad():
        model(torch.from_numpy(X))  # materializes lazy layers and BatchNorm statistics stay at defaults
    model.eval()
    module = build_quantized_module(
        torch_to_onnx(model, X[:1]), X, n_bits=n_bits, rounding_threshold_bits=rounding
    )
    return module, model, X


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_error_shrinks_as_bits_grow(name):
    errors = []
    for n_bits in (3, 8):
        module, model, X = build(name, n_bits)
        with torch.no_grad():
            expected = model(torch.from_numpy(X)).numpy()
        errors.append(np.abs(module.forward(X) - expected).max() / np.ptp(expected))
    assert errors[1] < 0.05 and errors[1] < errors[0], errors


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_integer_stays_within_its_worst_case_bound(name):
    module, _, _ = build(name, n_bits=4)
    graph = module.graph
    high = graph.tensors[graph.input].high
    # Random codes over the whole input code, plus the two extreme rows: not only what calibration saw.
    codes = RNG.integers(0, high + 1, size=(200, *high.shape[1:]))
    codes = np.concatenate([codes, np.zeros_like(codes[:1]), np.broadcast_to(high, codes[:1].shape)])
    values = {graph.input: codes}
    for node in graph.nodes:
        values[node.output] = node.evaluate(*(values[name] for name in node.inputs))
        assert values[node.output].min() >= 0, node.output
        assert np.all(values[node.output] <= graph.tensors[node.output].high), node.output
        assert np.asarray(values[node.output]).max() < 2 ** max(node.bit_widths), node.output


@pytest.mark.parametrize("name", ["conv-stride-pad", "maxpool", "add", "mul"])
def test_clear_equals_simulate(name):
    module, _, X = build(name, n_bits=3, rounding=4)
    module.compile(X)
    np.testing.assert_array_equal(module.forward(X, fhe="simulate"), module.forward(X))


class TwoInputs(torch.nn.Module):
    """Each input through its own layer, joined by an add."""

    def __init__(self):
        super().__init__()
        self.left, self.right, self.head = torch.nn.Linear(5, 4), torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)

    def forward(self, left, right):
        return self.head(torch.relu(self.left(left) + self.right(right)))


def test_several_graph_inputs_are_encoded_apart_and_joined():
    torch.manual_seed(0)
    model = TwoInputs().eval()
    left, right = VECTORS, RNG.normal(size=(40, 3)).astype(np.float32)
    module = build_quantized_module(torch_to_onnx(model, (left[:1], right[:1])), (left, right), n_bits=8)
    with torch.no_grad():
        expected = model(torch.from_numpy(left), torch.from_numpy(right)).numpy()
    assert np.abs(module.forward(left, right) - expected).max() < 0.05 * np.ptp(expected)
    assert len(module.input_quantizers) == 2
    with pytest.raises(InputValidationError, match="the model takes 2 input array"):
        module.forward(left)
    with pytest.raises(InputValidationError, match=r"x\[1\] must have shape \(n_rows, 3\)"):
        module.forward(left, left)
    small = build_quantized_module(torch_to_onnx(model, (left[:1], right[:1])), (left, right), n_bits=3)
    small.compile((left, right))
    np.testing.assert_array_equal(small.forward(left, right, fhe="simulate"), small.forward(left, right))
