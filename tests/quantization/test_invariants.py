"""Clear, simulated and encrypted runs of an exact circuit agree bit for bit; bit-widths known up front."""

import brevitas.nn as qnn
import numpy as np
import pytest
import torch

from veil.quantization import parse_rounding_threshold_bits
from veil.quantization._graph_builder import GraphBuilder
from veil.quantization._integer_graph import TensorInfo
from veil.quantization._quantizers import UniformQuantizer
from veil.torch import compile_brevitas_qat_model, compile_torch_model

SMALL_BITS = {"model_inputs": 2, "op_inputs": 2, "op_weights": 2, "model_outputs": 3}


def _data(n_rows=60, n_features=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n_rows, n_features)).astype(np.float32)


def _float_mlp(activation):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), activation, torch.nn.Linear(5, 3))


def _brevitas_mlp():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        qnn.QuantIdentity(bit_width=2, return_quant_tensor=True),
        qnn.QuantLinear(4, 5, bias=True, weight_bit_width=2),
        qnn.QuantReLU(bit_width=2, return_quant_tensor=True),
        qnn.QuantLinear(5, 3, bias=True, weight_bit_width=2),
    )
    model(torch.from_numpy(_data()))  # calibrate the activation scales once
    return model.eval()


@pytest.fixture(scope="module", params=["ptq-relu", "ptq-gelu", "qat-brevitas"])
def compiled(request):
    X = _data()
    if request.param == "ptq-relu":
        module = compile_torch_model(
            _float_mlp(torch.nn.ReLU()), X, n_bits=SMALL_BITS, rounding_threshold_bits=3
        )
    elif request.param == "ptq-gelu":
        module = compile_torch_model(
            _float_mlp(torch.nn.GELU()), X, n_bits=SMALL_BITS, rounding_threshold_bits=3
        )
    else:
        module = compile_brevitas_qat_model(_brevitas_mlp(), X)
    return module, X


def test_clear_equals_simulate_on_many_rows(compiled):
    module, X = compiled
    q_x = module.quantize_input(_data(n_rows=40, seed=1))
    clear = module.quantized_forward(q_x, fhe="disable")
    np.testing.assert_array_equal(clear, module.quantized_forward(q_x, fhe="simulate"))
    assert len(np.unique(clear, axis=0)) > 3  # the outputs vary: the comparison is not between constants


def test_execute_equals_clear(compiled):
    module, _ = compiled
    q_x = module.quantize_input(_data(n_rows=2, seed=2))
    np.testing.assert_array_equal(
        module.quantized_forward(q_x, fhe="execute"), module.quantized_forward(q_x, fhe="disable")
    )


def test_rows_far_outside_the_calibration_range_do_not_wrap_around(compiled):
    module, _ = compiled
    extreme = np.array([[1e3, -1e3, 1e3, -1e3], [-1e3, 1e3, -1e3, 1e3], [50.0, 50.0, 50.0, 50.0]])
    q_x = module.quantize_input(extreme)
    np.testing.assert_array_equal(
        module.quantized_forward(q_x, fhe="simulate"), module.quantized_forward(q_x, fhe="disable")
    )


def test_compiled_max_bit_width_is_the_predicted_one(compiled):
    module, _ = compiled
    assert module.fhe_circuit.statistics.max_bit_width == module.predicted_max_bit_width


def test_brevitas_import_matches_brevitas_forward():
    model = _brevitas_mlp()
    X = _data()
    module = compile_brevitas_qat_model(model, X)
    expected = model(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(module.forward(X), expected, atol=1e-5)


@pytest.mark.parametrize(("hidden", "output_is_looked_up"), [(5, False), (64, True)])
def test_rounding_requantizes_the_output_only_when_it_is_the_widest_value(hidden, output_is_looked_up):
    """An output accumulator no wider than the hidden ones is decrypted as is: no rounding, no lookup."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 3))
    n_bits = {"model_inputs": 3, "op_inputs": 3, "op_weights": 3, "model_outputs": 4}
    module = compile_torch_model(model, _data(), n_bits=n_bits, rounding_threshold_bits=4)
    kinds = [type(node).__name__ for node in module.graph.nodes]
    assert kinds[:3] == ["LinearNode", "LookupNode", "LinearNode"]
    assert (kinds[-1] == "LookupNode") is output_is_looked_up
    assert module.graph.table_lookup_count() == hidden + (3 if output_is_looked_up else 0)


@pytest.mark.parametrize(("high", "lsbs"), [(200, 2), (254, 3), (255, 3)])
def test_a_rounded_lookup_reads_no_more_bits_than_rounding_keeps_even_when_rounding_up_carries(high, lsbs):
    """8-bit values rounded to 6 bits: 254 and 255 round up to 256 (a ninth bit) unless one more bit goes."""
    builder = GraphBuilder(
        parse_rounding_threshold_bits({"n_bits": 6, "method": "exact"}), n_bits_op_inputs=3
    )
    builder.tensors["accumulator"] = TensorInfo(high=np.array([[high, 17]]))
    builder.add_lookup("accumulator", [], UniformQuantizer(3, is_signed=False, scale=1.0), "a test")
    (lookup,) = builder.nodes
    assert lookup.lsbs_to_remove == lsbs
    assert lookup.input_bit_width - lookup.lsbs_to_remove == 6
