"""Every registered ONNX op against onnxruntime, on one-node models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from veil.errors import UnsupportedOpError
from veil.onnx import ONNX_OPS, NumpyModule

RNG = np.random.default_rng(0)


@dataclass
class Case:
    """One op invocation: inputs (None = missing optional input), attributes, and the opset to use."""

    label: str
    inputs: list[np.ndarray | None]
    attributes: dict[str, Any] = field(default_factory=dict)
    opset: int = 17


def uniform(*shape: int, low: float = -3.0, high: float = 3.0) -> np.ndarray:
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def away_from_zero(*shape: int) -> np.ndarray:
    return (uniform(*shape, low=0.5, high=2.0) * RNG.choice([-1, 1], size=shape)).astype(np.float32)


def ints(*values: int, dtype: type = np.int64) -> np.ndarray:
    return np.array(values, dtype=dtype)


def unary(*extra: Case, domain: tuple[float, float] = (-3.0, 3.0)) -> list[Case]:
    low, high = domain
    return [Case("default", [uniform(3, 4, low=low, high=high)]), *extra]


def binary(second: np.ndarray | None = None) -> list[Case]:
    return [
        Case("same-shape", [uniform(3, 4), away_from_zero(3, 4) if second is None else second]),
        Case("broadcast", [uniform(2, 3, 4), away_from_zero(4)]),
    ]


HALVES = np.array([[0.5, 1.5, 2.5, -0.5], [-1.5, -2.5, 1.2, -0.7]], dtype=np.float32)
SCALE_PER_ROW = np.array([0.02, 0.05, 0.1], dtype=np.float32)

CASES: dict[str, list[Case]] = {
    "Gemm": [
        Case("plain", [uniform(3, 4), uniform(4, 5), uniform(5)]),
        Case(
            "transB-alpha-beta",
            [uniform(3, 4), uniform(5, 4), uniform(3, 5)],
            {"transB": 1, "alpha": 0.5, "beta": 2.0},
        ),
        Case("transA-no-C", [uniform(4, 3), uniform(4, 5)], {"transA": 1}),
    ],
    "MatMul": [
        Case("batched", [uniform(2, 3, 4), uniform(4, 5)]),
        Case("vector", [uniform(4), uniform(4, 2)]),
    ],
    "Add": binary(),
    "Sub": binary(),
    "Mul": binary(),
    "Div": [
        *binary(),
        Case("int-truncates", [ints(-7, 7, -8, 8, 9), ints(2, -2, 3, -3, 3)]),
    ],
    "Neg": unary(),
    "Abs": unary(),
    "Exp": unary(),
    "Log": unary(domain=(0.1, 5.0)),
    "Sqrt": unary(domain=(0.0, 5.0)),
    "Reciprocal": [Case("default", [away_from_zero(3, 4)])],
    "Pow": [
        Case("float-exponent", [uniform(3, 4, low=0.1, high=3.0), uniform(3, 4, low=-2.0, high=2.0)]),
        Case("int-exponent", [uniform(3, 4), ints(2, 3, 1, 0)]),
    ],
    "Erf": unary(),
    "Floor": unary(Case("halves", [HALVES])),
    "Ceil": unary(Case("halves", [HALVES])),
    "Round": unary(Case("halves-to-even", [HALVES])),
    "Sign": unary(Case("zeros", [np.array([0.0, -0.0, 1.5, -2.0], dtype=np.float32)])),
    "Max": [Case("three-broadcast", [uniform(3, 4), uniform(4), uniform(1, 4)]), Case("one", [uniform(3)])],
    "Min": [Case("three-broadcast", [uniform(3, 4), uniform(4), uniform(1, 4)]), Case("one", [uniform(3)])],
    "Sum": [Case("three-broadcast", [uniform(3, 4), uniform(4), uniform(1, 4)]), Case("one", [uniform(3)])],
    "Clip": [
        Case("no-bounds", [uniform(3, 4)]),
        Case("min-only", [uniform(3, 4), np.array(-1.0, dtype=np.float32)]),
        Case("max-only", [uniform(3, 4), None, np.array(0.5, dtype=np.float32)]),
        Case("min-max", [uniform(3, 4), np.array(-1.0, dtype=np.float32), np.array(0.5, dtype=np.float32)]),
        Case(
            "int8-narrow-range",
            [ints(-128, -5, -4, 0, 3, 4, 127, dtype=np.int8), *ints(-3, 3, dtype=np.int8)],
        ),
        Case("opset6-attributes", [uniform(3, 4)], {"min": -1.0, "max": 0.5}, opset=6),
    ],
    "Relu": unary(),
    "LeakyRelu": unary(Case("alpha", [uniform(3, 4)], {"alpha": 0.2})),
    "PRelu": [Case("per-channel", [uniform(3, 4), uniform(4, low=0.0, high=0.5)])],
    "Elu": unary(Case("alpha", [uniform(3, 4)], {"alpha": 0.5})),
    "Selu": unary(Case("alpha-gamma", [uniform(3, 4)], {"alpha": 1.5, "gamma": 1.1})),
    "Celu": unary(Case("alpha", [uniform(3, 4)], {"alpha": 2.0})),
    "Sigmoid": unary(Case("large", [uniform(3, 4, low=-100.0, high=100.0)])),
    "HardSigmoid": unary(Case("alpha-beta", [uniform(3, 4)], {"alpha": 0.3, "beta": 0.4})),
    "HardSwish": unary(domain=(-5.0, 5.0)),
    "Tanh": unary(),
    "Softplus": unary(Case("large", [uniform(3, 4, low=-50.0, high=50.0)])),
    "Softsign": unary(),
    "Mish": [Case("default", [uniform(3, 4)], opset=18)],
    "ThresholdedRelu": unary(Case("alpha", [uniform(3, 4)], {"alpha": 0.5})),
    "Gelu": [
        Case("exact", [uniform(3, 4)], opset=20),
        Case("tanh", [uniform(3, 4)], {"approximate": "tanh"}, opset=20),
    ],
    "Softmax": [Case("last-axis", [uniform(2, 3, 4)]), Case("axis-0", [uniform(2, 3, 4)], {"axis": 0})],
    "LogSoftmax": [Case("last-axis", [uniform(2, 3, 4)]), Case("axis-1", [uniform(2, 3, 4)], {"axis": 1})],
    "Equal": [Case("ints", [ints(1, 2, 3, 4), ints(1, 0, 3, 0)])],
    "Greater": [Case("floats", [HALVES, np.round(HALVES)])],
    "Less": [Case("floats", [HALVES, np.round(HALVES)])],
    "Not": [Case("bools", [np.array([True, False, True])])],
    "Where": [Case("broadcast", [uniform(3, 4) > 0, uniform(3, 4), uniform(4)])],
    "BatchNormalization": [
        Case(
            "3d",
            [uniform(4, 3, 5), uniform(3), uniform(3), uniform(3), uniform(3, low=0.1, high=2.0)],
            {"epsilon": 1e-3},
        ),
        Case("2d", [uniform(4, 3), uniform(3), uniform(3), uniform(3), uniform(3, low=0.1, high=2.0)]),
    ],
    "Dropout": [Case("inference", [uniform(3, 4)])],
    "Identity": unary(),
    "Cast": [
        Case("to-int32-truncates", [HALVES * 3], {"to": TensorProto.INT32}),
        Case("to-double", [uniform(3, 4)], {"to": TensorProto.DOUBLE}),
        Case("int8-to-float", [ints(-3, 0, 3, dtype=np.int8)], {"to": TensorProto.FLOAT}),
    ],
    "Concat": [Case("axis-1", [uniform(2, 3), uniform(2, 1), uniform(2, 2)], {"axis": 1})],
    "Constant": [
        Case("tensor", [], {"value": numpy_helper.from_array(uniform(2, 3))}),
        Case("value-float", [], {"value_float": 1.5}),
        Case("value-floats", [], {"value_floats": [1.5, -2.0]}),
        Case("value-int", [], {"value_int": 7}),
        Case("value-ints", [], {"value_ints": [1, -2, 3]}),
    ],
    "ConstantOfShape": [
        Case("default-zero", [ints(2, 3)]),
        Case("value", [ints(2, 3)], {"value": numpy_helper.from_array(np.array([1.5], dtype=np.float32))}),
        Case("int-value", [ints(4)], {"value": numpy_helper.from_array(np.array([7], dtype=np.int64))}),
    ],
    "Expand": [Case("both-ways", [uniform(3, 1), ints(2, 1, 4)])],
    "Flatten": [
        Case("default-axis", [uniform(2, 3, 4)]),
        Case("axis-0", [uniform(2, 3, 4)], {"axis": 0}),
        Case("axis-2", [uniform(2, 3, 4)], {"axis": 2}),
        Case("axis-negative", [uniform(2, 3, 4)], {"axis": -1}),
    ],
    "Gather": [
        Case("axis-0-negative-index", [uniform(5, 4), ints(0, -1, 2, 3).reshape(2, 2)]),
        Case("axis-1-scalar-index", [uniform(5, 4), np.array(1, dtype=np.int64)], {"axis": 1}),
    ],
    "Reshape": [
        Case("copy-zero-and-infer", [uniform(2, 3, 4), ints(0, -1)]),
        Case("allowzero", [uniform(2, 3, 4), ints(4, 6)], {"allowzero": 1}),
    ],
    "Shape": [
        Case("full", [uniform(2, 3, 4)]),
        Case("start-end", [uniform(2, 3, 4)], {"start": 1, "end": -1}),
    ],
    "Slice": [
        Case("starts-ends", [uniform(5, 6), ints(1, 0), ints(4, 3)]),
        Case("axes-steps", [uniform(5, 6), ints(-1), ints(-(2**63)), ints(1), ints(-2)]),
        Case("clamped", [uniform(5, 6), ints(2), ints(2**63 - 1), ints(0)]),
    ],
    "ReduceSum": [
        Case("axes-input", [uniform(3, 4, 2), ints(1)], {"keepdims": 0}, opset=13),
        Case("keepdims-two-axes", [uniform(3, 4, 2), ints(0, -1)], opset=13),
        Case("all-axes", [uniform(3, 4)], opset=13),
        Case("noop-empty-axes", [uniform(3, 4)], {"noop_with_empty_axes": 1}, opset=13),
        Case("opset11-attribute", [uniform(3, 4, 2)], {"axes": [1], "keepdims": 0}, opset=11),
    ],
    "Squeeze": [
        Case("axes-input", [uniform(3, 1, 4, 1), ints(1)]),
        Case("all", [uniform(3, 1, 4, 1)]),
        Case("opset11-attribute", [uniform(3, 1, 4, 1)], {"axes": [-1]}, opset=11),
    ],
    "Unsqueeze": [
        Case("axes-input", [uniform(3, 4), ints(0, -1)]),
        Case("opset11-attribute", [uniform(3, 4)], {"axes": [1]}, opset=11),
    ],
    "Transpose": [Case("perm", [uniform(2, 3, 4)], {"perm": [2, 0, 1]}), Case("reverse", [uniform(2, 3, 4)])],
    "QuantizeLinear": [
        Case("uint8", [uniform(3, 4), np.float32(0.02), np.uint8(128)]),
        Case("int8", [uniform(3, 4), np.float32(0.02), np.int8(-3)]),
        Case("default-uint8", [uniform(3, 4, low=0.0), np.float32(0.02)]),
        Case("per-axis-int8", [uniform(3, 4), SCALE_PER_ROW, ints(-2, 0, 5, dtype=np.int8)], {"axis": 0}),
        Case("per-axis-uint8", [uniform(4, 3), SCALE_PER_ROW, ints(100, 128, 0, dtype=np.uint8)]),
    ],
    "Conv": [
        Case(
            "2d",
            [
                uniform(2, 3, 6, 5, low=-1.0, high=1.0),
                uniform(4, 3, 3, 2, low=-1.0, high=1.0),
                uniform(4, low=-1.0, high=1.0),
            ],
        ),
        Case(
            "2d-stride-pad-dilation",
            [uniform(2, 3, 7, 6, low=-1.0, high=1.0), uniform(4, 3, 2, 3, low=-1.0, high=1.0)],
            {"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2]},
        ),
        Case(
            "2d-groups",
            [
                uniform(1, 4, 5, 5, low=-1.0, high=1.0),
                uniform(6, 2, 3, 3, low=-1.0, high=1.0),
                uniform(6, low=-1.0, high=1.0),
            ],
            {"group": 2},
        ),
        Case(
            "depthwise",
            [uniform(2, 3, 5, 5, low=-1.0, high=1.0), uniform(3, 1, 3, 3, low=-1.0, high=1.0)],
            {"group": 3, "pads": [1, 1, 1, 1]},
        ),
        Case(
            "1d",
            [
                uniform(2, 3, 9, low=-1.0, high=1.0),
                uniform(5, 3, 3, low=-1.0, high=1.0),
                uniform(5, low=-1.0, high=1.0),
            ],
            {"strides": [2], "pads": [1, 1]},
        ),
        Case(
            "valid",
            [uniform(1, 2, 5, 5, low=-1.0, high=1.0), uniform(3, 2, 2, 2, low=-1.0, high=1.0)],
            {"auto_pad": "VALID"},
        ),
    ],
    "AveragePool": [
        Case("2d", [uniform(2, 3, 6, 6)], {"kernel_shape": [2, 2], "strides": [2, 2]}),
        Case("pad-excluded", [uniform(1, 2, 5, 5)], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
        Case(
            "pad-included",
            [uniform(1, 2, 5, 5)],
            {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1, "strides": [2, 2]},
        ),
        Case("1d", [uniform(2, 3, 8)], {"kernel_shape": [2], "strides": [2]}),
    ],
    "MaxPool": [
        Case("2d", [uniform(2, 3, 6, 6)], {"kernel_shape": [2, 2], "strides": [2, 2]}),
        Case(
            "pad-dilation",
            [uniform(1, 2, 6, 6)],
            {"kernel_shape": [2, 2], "pads": [1, 1, 0, 0], "dilations": [2, 2]},
        ),
        Case("1d", [uniform(2, 3, 7)], {"kernel_shape": [3], "strides": [2]}),
    ],
    "GlobalAveragePool": [Case("2d", [uniform(2, 3, 4, 5)]), Case("1d", [uniform(2, 3, 4)])],
    "Pad": [
        Case("constant", [uniform(2, 3, 4), ints(0, 1, 2, 0, 0, 1), np.array(0.5, dtype=np.float32)]),
        Case("crop-and-pad", [uniform(2, 3, 4), ints(0, -1, 2, 0, 1, -1)]),
        Case("axes", [uniform(2, 3, 4), ints(1, 2), None, ints(-1)], opset=18),
        Case("reflect", [uniform(2, 3, 4), ints(0, 0, 2, 0, 0, 1)], {"mode": "reflect"}),
        Case("edge", [uniform(2, 3, 4), ints(0, 1, 1, 0, 1, 1)], {"mode": "edge"}),
    ],
    "DequantizeLinear": [
        Case("uint8", [RNG.integers(0, 256, (3, 4)).astype(np.uint8), np.float32(0.02), np.uint8(128)]),
        Case("int8", [RNG.integers(-128, 128, (3, 4)).astype(np.int8), np.float32(0.02), np.int8(-3)]),
        Case(
            "per-axis-int8",
            [RNG.integers(-128, 128, (3, 4)).astype(np.int8), SCALE_PER_ROW, ints(-2, 0, 5, dtype=np.int8)],
            {"axis": 0},
        ),
        Case(
            "per-axis-uint8",
            [RNG.integers(0, 256, (4, 3)).astype(np.uint8), SCALE_PER_ROW, ints(100, 128, 0, dtype=np.uint8)],
        ),
        Case(
            "int32-no-zero-point", [RNG.integers(-(2**20), 2**20, (3, 4)).astype(np.int32), np.float32(0.001)]
        ),
    ],
}


def one_node_model(op_type: str, case: Case, output_dtype: np.dtype):
    """A model holding one ``op_type`` node whose inputs are all graph inputs."""
    names = ["" if value is None else f"in_{i}" for i, value in enumerate(case.inputs)]
    graph_inputs = [
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape)
        for name, value in zip(names, case.inputs, strict=True)
        if value is not None
    ]
    output = helper.make_tensor_value_info("out", helper.np_dtype_to_tensor_dtype(output_dtype), None)
    node = helper.make_node(op_type, names, ["out"], name=f"{op_type}_0", **case.attributes)
    graph = helper.make_graph([node], f"one_{op_type}", graph_inputs, [output])
    return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", case.opset)])


def run_onnxruntime(model, feeds: dict[str, np.ndarray]) -> np.ndarray:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)[0]


def cases_for_every_registered_op():
    for op_type in sorted(ONNX_OPS):
        cases = CASES.get(op_type, [])
        if not cases:
            yield pytest.param(op_type, None, id=f"{op_type}-NO-CASE")
        for case in cases:
            yield pytest.param(op_type, case, id=f"{op_type}-{case.label}")


@pytest.mark.parametrize(("op_type", "case"), list(cases_for_every_registered_op()))
def test_op_matches_onnxruntime(op_type: str, case: Case | None):
    if case is None:
        pytest.fail(f"{op_type} is registered in ONNX_OPS but has no test case in CASES")
    inputs = [None if value is None else np.asarray(value) for value in case.inputs]
    fed = [value for value in inputs if value is not None]
    copies = [value.copy() for value in fed]

    # Build once with a placeholder output type to learn Veil's output dtype, then declare it.
    veil_module = NumpyModule(one_node_model(op_type, case, np.dtype(np.float32)))
    expected_missing = [value is None for value in inputs]
    assert [name == "" for name in veil_module.nodes[0].inputs] == expected_missing
    veil_output = veil_module(*fed)

    model = one_node_model(op_type, case, veil_output.dtype)
    feeds = {name: value for name, value in zip(veil_module.input_names, fed, strict=True)}
    reference = run_onnxruntime(model, feeds)

    assert veil_output.dtype == reference.dtype
    assert veil_output.shape == reference.shape
    np.testing.assert_allclose(veil_output, reference, rtol=1e-5, atol=1e-6)
    for original, value in zip(copies, fed, strict=True):
        np.testing.assert_array_equal(original, value)  # inputs never mutated


def test_no_stale_cases():
    assert set(CASES) <= set(ONNX_OPS)


FLOAT_OPS = [
    "Abs", "Ceil", "Celu", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "Identity",
    "LeakyRelu", "LogSoftmax", "Mish", "Neg", "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign",
    "Softmax", "Softplus", "Softsign", "Tanh", "ThresholdedRelu", "Clip", "Dropout", "Flatten",
]  # fmt: skip


@pytest.mark.parametrize("op_type", FLOAT_OPS)
def test_float64_stays_float64(op_type: str):
    x = uniform(3, 4).astype(np.float64)
    assert ONNX_OPS[op_type](x).dtype == np.float64
    assert ONNX_OPS[op_type](x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("op_type", ["Log", "Sqrt"])
def test_float64_positive_domain(op_type: str):
    assert ONNX_OPS[op_type](uniform(3, low=0.5).astype(np.float64)).dtype == np.float64


def test_float64_activations_meet_float32_parameters():
    x = uniform(3, 4).astype(np.float64)
    weights, bias = uniform(4, 2), uniform(2)
    assert ONNX_OPS["Gemm"](x, weights, bias, alpha=0.5).dtype == np.float64
    assert ONNX_OPS["PRelu"](x, uniform(4)).dtype == np.float64
    assert ONNX_OPS["Clip"](x, np.float32(-1), np.float32(1)).dtype == np.float64
    assert ONNX_OPS["Clip"](x, np.int8(-1), np.int8(1)).dtype == np.float64
    assert ONNX_OPS["Pow"](x, np.float32(2)).dtype == np.float64
    assert ONNX_OPS["DequantizeLinear"](ints(1, -2, dtype=np.int8), np.float64(0.1)).dtype == np.float64
    batch_stats = [uniform(4), uniform(4), uniform(4), uniform(4, low=0.1)]
    assert ONNX_OPS["BatchNormalization"](x, *batch_stats).dtype == np.float64


def test_quantize_linear_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0], dtype=np.float64)
    assert ONNX_OPS["QuantizeLinear"](x, np.float64(1.0), np.int8(0)).tolist() == [0, 2, 2, 0, -2, 127, -128]
    assert ONNX_OPS["QuantizeLinear"](x, np.float64(1.0), np.uint8(3)).dtype == np.uint8


def _model_with(node) -> object:
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    return helper.make_model(graph)


def test_unknown_op_lists_supported_ops():
    with pytest.raises(UnsupportedOpError, match="FancyOp") as error:
        NumpyModule(_model_with(helper.make_node("FancyOp", ["x"], ["y"], name="fancy_node")))
    assert "fancy_node" in str(error.value)
    assert "Relu" in str(error.value)
    assert "QuantizeLinear" in str(error.value)


def test_custom_domain_is_unsupported():
    node = helper.make_node("Relu", ["x"], ["y"], domain="com.example")
    with pytest.raises(UnsupportedOpError, match="com.example"):
        NumpyModule(_model_with(node))


def test_unsupported_attribute_value_names_op_and_attribute():
    with pytest.raises(UnsupportedOpError, match=r"Gelu.*approximate"):
        ONNX_OPS["Gelu"](uniform(2), approximate="sigmoid")
    with pytest.raises(UnsupportedOpError, match=r"BatchNormalization.*training_mode"):
        ONNX_OPS["BatchNormalization"](*[uniform(2, 2)] + [uniform(2)] * 4, training_mode=1)


def test_unknown_attribute_name_is_refused_at_construction():
    node = helper.make_node("Relu", ["x"], ["y"], name="r", some_flag=1)
    with pytest.raises(UnsupportedOpError, match=r"Relu.*some_flag"):
        NumpyModule(_model_with(node))
