"""Idle hidden neurons (pruned in or out) are removed from the integer graph, exactly."""

import numpy as np
import pytest
import torch

import veil
from veil.quantization import _converter
from veil.torch import compile_torch_model

N_BITS = {"model_inputs": 3, "op_inputs": 3, "op_weights": 3, "model_outputs": 4}


def _mlp_with_idle_neurons(depth: int = 1):
    """``depth`` hidden layers of 8 neurons; in each, 2 constant neurons and 2 unused ones."""
    torch.manual_seed(0)
    layers = [torch.nn.Linear(4, 8), torch.nn.Sigmoid()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(8, 8), torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(8, 3))
    linears = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
    with torch.no_grad():
        for incoming, outgoing in zip(linears, linears[1:], strict=False):
            incoming.weight[[1, 5]] = 0.0  # constant neurons: sigmoid(bias), folded into the next layer
            incoming.bias[1] = 1.5
            outgoing.weight[:, [2, 6]] = 0.0  # unused neurons
    return model


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)


@pytest.mark.parametrize(("rounding", "depth"), [(None, 1), (4, 1), (None, 2)])
def test_idle_neurons_cost_no_lookup_and_change_no_output(data, rounding, depth, monkeypatch):
    options = {"n_bits": N_BITS, "rounding_threshold_bits": rounding}
    kept = compile_torch_model(_mlp_with_idle_neurons(depth), data, **options)
    with monkeypatch.context() as patch:
        patch.setattr(_converter, "drop_idle_neurons", lambda graph: graph)
        full = compile_torch_model(_mlp_with_idle_neurons(depth), data, **options)
    assert full.graph.table_lookup_count() == 8 * depth
    assert kept.graph.table_lookup_count() == 4 * depth
    q_x = kept.quantize_input(data)
    clear = kept.quantized_forward(q_x, fhe="disable")
    np.testing.assert_array_equal(clear, full.quantized_forward(q_x, fhe="disable"))
    np.testing.assert_array_equal(kept.forward(data), full.forward(data))
    np.testing.assert_array_equal(kept.quantized_forward(q_x, fhe="simulate"), clear)
    assert sum(kept.fhe_circuit.statistics.table_lookups_by_bit_width.values()) == 4 * depth


def test_pruned_model_survives_a_file_round_trip(data, tmp_path):
    module = compile_torch_model(_mlp_with_idle_neurons(), data, n_bits=N_BITS)
    module.dump(tmp_path / "m.veil")
    loaded = veil.load(tmp_path / "m.veil")
    np.testing.assert_array_equal(loaded.forward(data), module.forward(data))
