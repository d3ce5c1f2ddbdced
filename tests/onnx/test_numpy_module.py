"""NumpyModule on torch networks exported with veil.torch.torch_to_onnx."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper

from veil.errors import InputValidationError
from veil.onnx import NumpyModule, OnnxNode
from veil.torch import torch_to_onnx


def relu_sigmoid_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3), torch.nn.Sigmoid()
    )


def gelu_tanh_batchnorm_mlp() -> torch.nn.Module:
    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(6, 16),
        torch.nn.BatchNorm1d(16),
        torch.nn.GELU(),
        torch.nn.Linear(16, 8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 2),
    )
    with torch.no_grad():  # non-trivial running statistics
        model[2].running_mean.uniform_(-1, 1)
        model[2].running_var.uniform_(0.5, 2)
    return model


def onnxruntime_forward(onnx_model, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_0": x})[0]


@pytest.mark.parametrize(
    ("build", "input_shape"),
    [(relu_sigmoid_mlp, (6,)), (gelu_tanh_batchnorm_mlp, (2, 3))],
    ids=["relu-sigmoid", "gelu-tanh-batchnorm-flatten"],
)
def test_matches_torch_and_onnxruntime(build, input_shape):
    torch.manual_seed(0)
    model = build()
    x = np.random.default_rng(0).normal(size=(10, *input_shape)).astype(np.float32)
    module = NumpyModule(torch_to_onnx(model, x[:4]))

    output = module(x)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()

    assert module.input_names == ["input_0"]
    assert module.output_names == ["output_0"]
    assert module.input_shapes == [(None, *input_shape)]
    assert output.dtype == np.float32
    np.testing.assert_allclose(output, expected, atol=1e-5)
    np.testing.assert_allclose(output, onnxruntime_forward(module.onnx_model, x), atol=1e-5)
    assert module.forward(x.astype(np.float64)).dtype == np.float64


def test_attributes_describe_the_graph():
    torch.manual_seed(0)
    module = NumpyModule(torch_to_onnx(relu_sigmoid_mlp(), np.zeros((2, 6), dtype=np.float32)))
    assert [node.op_type for node in module.nodes] == ["Gemm", "Relu", "Gemm", "Sigmoid"]
    assert all(isinstance(node, OnnxNode) for node in module.nodes)
    assert module.nodes[0].attributes["transB"] == 1
    assert sorted(array.shape for array in module.initializers.values()) == [(3,), (3, 16), (16,), (16, 6)]


def test_wrong_input_count_raises():
    torch.manual_seed(0)
    module = NumpyModule(torch_to_onnx(relu_sigmoid_mlp(), np.zeros((2, 6), dtype=np.float32)))
    x = np.zeros((2, 6), dtype=np.float32)
    with pytest.raises(ValueError, match=r"expects 1 input"):
        module(x, x)
    with pytest.raises(InputValidationError):
        module()


def test_multiple_outputs_return_a_tuple_and_attributes_are_decoded():
    nodes = [
        helper.make_node("Relu", ["x"], ["relu"]),
        helper.make_node("Gelu", ["x"], ["gelu"], approximate="tanh"),
    ]
    graph = helper.make_graph(
        nodes,
        "two_outputs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 3]) for name in ("relu", "gelu")],
    )
    module = NumpyModule(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]))
    assert module.nodes[1].attributes == {"approximate": "tanh"}  # bytes decoded to str
    relu, gelu = module(np.array([[-1.0, 0.0, 2.0]], dtype=np.float32))
    np.testing.assert_array_equal(relu, [[0.0, 0.0, 2.0]])
    assert gelu.shape == (1, 3)


def test_every_registered_op_has_a_kind_and_the_integer_graph_classes_derive_from_it():
    from veil.onnx import OPS, ops_of_kind
    from veil.onnx._registry import OP_KINDS
    from veil.quantization import _steps

    assert {op.kind for op in OPS.values()} <= set(OP_KINDS)
    assert _steps.LINEAR_OPS == ops_of_kind("linear") >= {"Gemm", "MatMul"}
    assert _steps.ELEMENTWISE_OPS == ops_of_kind("elementwise") >= {"Relu", "Add", "QuantizeLinear"}
    assert _steps.SHAPE_OPS == ops_of_kind("shape") >= {"Flatten", "Reshape", "Transpose"}
    assert "Softmax" not in _steps.ELEMENTWISE_OPS | _steps.SHAPE_OPS
    with pytest.raises(ValueError, match="kinds must be among"):
        ops_of_kind("elementwyse")
