"""torch_to_onnx: float networks through torch's exporter, Brevitas QAT networks as QCDQ ONNX."""

from __future__ import annotations

import brevitas.nn as qnn
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from brevitas.quant.scaled_int import (
    Int8AccumulatorAwareWeightQuant,
    Int8AccumulatorAwareZeroCenterWeightQuant,
)

from veil.onnx import NumpyModule
from veil.torch import torch_to_onnx


def qat_mlp(**first_linear_options) -> torch.nn.Module:
    return torch.nn.Sequential(
        qnn.QuantIdentity(bit_width=4, return_quant_tensor=True),
        qnn.QuantLinear(6, 12, weight_bit_width=3, bias=True, **first_linear_options),
        qnn.QuantReLU(bit_width=3, return_quant_tensor=True),
        qnn.QuantLinear(12, 2, weight_bit_width=3, bias=True),
    )


def calibrated(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """Run a few training-mode passes so that the activation quantizers collect their ranges."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model


def brevitas_forward(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def onnxruntime_forward(onnx_model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The graph's literal semantics: onnxruntime's optimizations (even "basic") fuse the
    DequantizeLinear -> Gemm pattern into an integer kernel whose results differ by about a step."""
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"input_0": x})[0]


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32)


@pytest.mark.parametrize(
    "first_linear_options",
    [
        {},
        {"weight_quant": Int8AccumulatorAwareWeightQuant, "weight_accumulator_bit_width": 12},
        {"weight_quant": Int8AccumulatorAwareZeroCenterWeightQuant, "weight_accumulator_bit_width": 12},
    ],
    ids=["per-tensor", "a2q", "a2q-zero-center"],
)
def test_brevitas_qat_mlp_exports_qcdq_and_evaluates(data, first_linear_options):
    torch.manual_seed(0)
    model = calibrated(qat_mlp(**first_linear_options), torch.from_numpy(data))
    onnx_model = torch_to_onnx(model, data[:4])

    op_types = [node.op_type for node in onnx_model.graph.node]
    assert {"QuantizeLinear", "Clip", "DequantizeLinear", "Gemm", "Relu"} <= set(op_types)
    assert model.training  # the training flag is restored after export

    module = NumpyModule(onnx_model)
    assert module.input_names == ["input_0"]
    output = module(data)
    np.testing.assert_allclose(output, brevitas_forward(model, data), atol=1e-4)
    np.testing.assert_allclose(output, onnxruntime_forward(onnx_model, data), atol=1e-5)


def test_brevitas_qcdq_structure(data):
    torch.manual_seed(0)
    model = calibrated(qat_mlp(), torch.from_numpy(data))
    module = NumpyModule(torch_to_onnx(model, data[:4]))
    first = module.nodes[:3]
    assert [node.op_type for node in first] == ["QuantizeLinear", "Clip", "DequantizeLinear"]
    # The 4-bit signed input quantizer emits int8 codes clipped to [-8, 7] by Clip inputs.
    quantize, clip, _ = first
    assert module.initializers[quantize.inputs[2]].dtype == np.int8
    assert [int(module.initializers[name]) for name in clip.inputs[1:]] == [-8, 7]


def test_float_export_restores_training_flag_and_has_dynamic_batch():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout(0.5))
    onnx_model = torch_to_onnx(model, torch.zeros(4, 3))
    assert model.training
    assert [node.op_type for node in onnx_model.graph.node] == ["Gemm"]
    batch = onnx_model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.HasField("dim_value")
    assert NumpyModule(onnx_model)(np.ones((7, 3), dtype=np.float32)).shape == (7, 2)


def test_numpy_float64_example_input_is_accepted():
    model = torch.nn.Linear(3, 2)
    onnx_model = torch_to_onnx(model, np.zeros((2, 3)))
    assert onnx_model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_rejects_non_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        torch_to_onnx(lambda x: x, torch.zeros(2, 3))


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_rejects_non_finite_example_input(bad_value):
    x = torch.zeros(2, 3)
    x[0, 1] = bad_value
    with pytest.raises(ValueError, match="NaN or infinite"):
        torch_to_onnx(torch.nn.Linear(3, 2), x)


def test_a_float_model_given_to_the_qat_compiler_has_no_quantizers(data):
    from veil.errors import QuantizationError
    from veil.torch import compile_brevitas_qat_model

    model = torch.nn.Sequential(torch.nn.Linear(data.shape[1], 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with pytest.raises(QuantizationError, match="no quantizers found in torch_model.*compile_torch_model"):
        compile_brevitas_qat_model(model, data)
