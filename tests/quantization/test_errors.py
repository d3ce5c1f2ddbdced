"""Bad input gets a clear error that names the parameter, never a wrong answer."""

import re

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from veil.errors import InputValidationError, NotCompiledError, QuantizationError, UnsupportedOpError
from veil.onnx import NumpyModule
from veil.quantization import PostTrainingAffineQuantization, get_n_bits_dict, parse_rounding_threshold_bits
from veil.torch import build_quantized_module, compile_torch_model, torch_to_onnx


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    X = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    return build_quantized_module(torch_to_onnx(model, X[:1]), X, n_bits=3)


def test_unsupported_op_is_named_with_the_supported_list():
    node = helper.make_node("LpPool", ["x"], ["y"], name="pool0", kernel_shape=[2, 2])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    with pytest.raises(
        UnsupportedOpError, match=r"LpPool \(node 'pool0'\).*Supported ops: .*Conv.*Gemm.*Relu"
    ):
        NumpyModule(helper.make_model(graph))


def test_softmax_between_layers_cannot_be_folded():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Softmax(dim=1), torch.nn.Linear(4, 2))
    X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    with pytest.raises(UnsupportedOpError, match="Softmax.*mixes values across positions"):
        build_quantized_module(torch_to_onnx(model, X[:1]), X, n_bits=3)


def test_two_encrypted_tensors_combined_non_linearly_are_refused():
    class TwoBranches(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x) / self.b(x)

    X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    with pytest.raises(UnsupportedOpError, match="'Div'.*combines several encrypted tensors non-linearly"):
        build_quantized_module(torch_to_onnx(TwoBranches(), X[:1]), X, n_bits=3)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.ones((2, 4)), r"x must have shape \(n_rows, 3\), got \(2, 4\)"),
        (np.ones(3), r"single row of shape \(3,\)"),
        (np.array([[1.0, np.nan, 0.0]]), "NaN or infinite"),
        (np.array([[1.0, np.inf, 0.0]]), "NaN or infinite"),
        (np.array([["a", "b", "c"]]), "must hold numbers"),
    ],
)
def test_bad_inputs(module, x, message):
    with pytest.raises(InputValidationError, match=message):
        module.forward(x)


@pytest.mark.parametrize(
    "n_bits", [0, 17, 2.5, "4", True, {"op_inputs": 3}, {"op_inputs": 3, "op_weights": 3, "x": 1}]
)
def test_invalid_n_bits(n_bits):
    with pytest.raises(QuantizationError, match="n_bits"):
        get_n_bits_dict(n_bits)


def test_n_bits_expansion():
    assert get_n_bits_dict(3) == {"model_inputs": 5, "op_inputs": 3, "op_weights": 3, "model_outputs": 5}
    assert get_n_bits_dict(7)["model_inputs"] == 7
    assert get_n_bits_dict({"op_inputs": 2, "op_weights": 4})["model_outputs"] == 5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1, r"rounding_threshold_bits must be an integer in \[2, 16\], got 1"),
        ("8", "rounding_threshold_bits must be an integer"),
        ({"n_bits": 4, "method": "fast"}, "'exact' or 'approximate', got 'fast'"),
        ({"bits": 4}, "unknown keys \\['bits'\\]"),
        ({"n_bits": 40}, r"\['n_bits'\] must be an integer in \[2, 16\]"),
    ],
)
def test_invalid_rounding_threshold_bits(value, message):
    with pytest.raises(QuantizationError, match=message):
        parse_rounding_threshold_bits(value)


def test_rounding_policies():
    assert parse_rounding_threshold_bits(None) is None
    assert parse_rounding_threshold_bits(6).kept_bits(3) == 6
    auto = parse_rounding_threshold_bits({"n_bits": "auto", "method": "approximate"})
    assert (auto.kept_bits(3), auto.exact) == (5, False)


@pytest.mark.parametrize("mode", ["simulate", "execute"])
def test_fhe_modes_need_compile(module, mode):
    with pytest.raises(NotCompiledError, match=f"fhe='{mode}' needs a compiled model: call compile"):
        module.forward(np.zeros((1, 3)), fhe=mode)


def test_unknown_fhe_mode(module):
    with pytest.raises(
        ValueError, match=r"fhe must be one of \('disable', 'simulate', 'execute'\), got 'gpu'"
    ):
        module.forward(np.zeros((1, 3)), fhe="gpu")


def test_nan_in_inputset():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with pytest.raises(InputValidationError, match="inputset contains NaN"):
        compile_torch_model(model, np.full((4, 3), np.nan, dtype=np.float32))


def test_accumulators_too_wide_for_a_table_lookup_are_refused_at_compile():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    X = np.random.default_rng(0).normal(size=(20, 20)).astype(np.float32)
    module = build_quantized_module(torch_to_onnx(model, X[:1]), X, n_bits=8)
    with pytest.raises(
        QuantizationError, match=r"table lookup on 1[7-9]-bit values.*rounding_threshold_bits"
    ):
        module.compile(X)


def test_converter_wants_one_calibration_array():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    converter = PostTrainingAffineQuantization(
        3, NumpyModule(torch_to_onnx(model, np.zeros((1, 3), np.float32)))
    )
    message = r"expected 1 calibration array\(s\), one per graph input \['input_0'\], got 2"
    with pytest.raises(InputValidationError, match=message):
        converter.quantize_module(np.zeros((2, 3)), np.zeros((2, 3)))
    assert isinstance(converter.numpy_model.onnx_model, onnx.ModelProto)


def test_encoded_inputs_are_checked(module):
    q_x = module.quantize_input(np.zeros((2, 3)))
    with pytest.raises(InputValidationError, match=r"q_x must be integers of shape \(n_rows, 3\)"):
        module.quantized_forward(q_x.astype(np.float64))
    with pytest.raises(InputValidationError, match="outside the input code"):
        module.quantized_forward(q_x - 100)


@pytest.mark.parametrize(
    ("n_bits", "name"), [(1, "n_bits"), ({"op_inputs": 3, "op_weights": 1}, "n_bits['op_weights']")]
)
def test_one_bit_signed_weights_are_refused_naming_n_bits(n_bits, name):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with pytest.raises(
        QuantizationError, match=rf"^{re.escape(name)} must be at least 2 for signed weights.*got 1$"
    ):
        compile_torch_model(model, np.zeros((4, 3), np.float32), n_bits=n_bits)


@pytest.mark.parametrize("p_error", [float("nan"), 0, 0.0, -1, 1, 2.0, "0.1", True])
@pytest.mark.parametrize("name", ["p_error", "global_p_error"])
def test_error_probabilities_outside_0_1_are_refused(module, name, p_error):
    with pytest.raises(ValueError, match=rf"{name} must be None or a probability in the open interval"):
        module.compile(np.zeros((4, 3)), **{name: p_error})
