"""Idle hidden neurons (pruned in or out) are removed from the integer graph, exactly."""

import numpy as np
import pytest
import torch

import veil
from veil.quantization import _converter
from veil.quantization._idle_neurons import hidden_neurons, without_neurons
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


def _all_values(graph, q_x) -> dict:
    values = {graph.input: q_x}
    for node in graph.nodes:
        values[node.output] = node.evaluate(*(values[name] for name in node.inputs))
    return values


def test_a_removed_neuron_takes_exactly_its_contribution_out_of_the_next_layer(data):
    module = compile_torch_model(_mlp_with_idle_neurons(), data, n_bits=N_BITS)
    graph = module.graph
    neurons = hidden_neurons(graph)
    assert len(neurons) == 4  # the hidden layer's active neurons; the idle ones are gone already
    index, position = neurons[1]
    trimmed = without_neurons(graph, [(index, position)])
    assert trimmed.table_lookup_count() == 3 and graph.table_lookup_count() == 4  # the input is unchanged
    q_x = module.quantize_input(data)
    full, cut = _all_values(graph, q_x), _all_values(trimmed, q_x)
    lookup, reader = graph.nodes[index + 1], graph.nodes[index + 2]
    zero_point = np.broadcast_to(np.asarray(reader.input_zero_point).reshape(-1), (len(neurons),))[position]
    contribution = (full[lookup.output][:, position] - zero_point)[:, None] * reader.weight[position]
    assert np.any(contribution != 0)
    np.testing.assert_array_equal(cut[reader.output], full[reader.output] - contribution)
    assert cut[reader.output].min() >= 0
    assert np.all(cut[reader.output] <= trimmed.tensors[reader.output].high)
