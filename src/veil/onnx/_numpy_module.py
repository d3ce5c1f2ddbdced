"""Evaluate an ONNX graph with numpy, one registered function per node."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from veil.errors import InputValidationError, UnsupportedOpError

from .._serialization import serializable
from ._registry import ONNX_OPS, supported_ops

_DEFAULT_DOMAINS = ("", "ai.onnx")
# Ops whose opset < 13 semantics (coerce the input to 2-D at ``axis``) differ from what Veil implements.
_OPSET_13_SEMANTICS = ("Softmax", "LogSoftmax")


@serializable
@dataclass(frozen=True)
class OnnxNode:
    """One ONNX node with its attributes decoded to plain python and numpy values."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    @classmethod
    def from_proto(cls, node: onnx.NodeProto) -> OnnxNode:
        """Build a node from its protobuf; an empty input name marks a missing optional input."""
        return cls(
            op_type=node.op_type,
            inputs=tuple(node.input),
            outputs=tuple(node.output),
            attributes={attribute.name: _decode_attribute(attribute) for attribute in node.attribute},
            name=node.name,
        )


def _decode_value(value: Any) -> Any:
    """Turn protobuf attribute payloads into python values: bytes -> str, tensors -> numpy."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list):
        return [_decode_value(item) for item in value]
    return value


def _decode_attribute(attribute: onnx.AttributeProto) -> Any:
    """Decode one node attribute."""
    return _decode_value(helper.get_attribute_value(attribute))


def _unsupported_ops_message(offenders: list[str]) -> str:
    """Error text naming the offending nodes and listing what Veil supports."""
    return (
        f"ONNX op(s) not supported by Veil: {', '.join(offenders)}. "
        f"Supported ops: {', '.join(supported_ops())}."
    )


@functools.cache
def _attribute_names(op: Callable[..., np.ndarray]) -> frozenset[str] | None:
    """Keyword arguments an op accepts, or None when it accepts any."""
    parameters = inspect.signature(op).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    keyword_kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return frozenset(p.name for p in parameters if p.kind in keyword_kinds)


def evaluate_node(node: OnnxNode, inputs: list[np.ndarray | None]) -> np.ndarray:
    """Run one node on its input arrays (``None`` for a missing optional input)."""
    op = ONNX_OPS.get(node.op_type)
    if op is None:
        raise UnsupportedOpError(_unsupported_ops_message([f"{node.op_type} (node {node.name!r})"]))
    return np.asarray(op(*inputs, **node.attributes))


def _static_shape(value_info: onnx.ValueInfoProto) -> tuple[int | None, ...]:
    """A graph input's shape, with None for dynamic (symbolic or unknown) dimensions."""
    dims = value_info.type.tensor_type.shape.dim
    return tuple(dim.dim_value if dim.HasField("dim_value") else None for dim in dims)


def _default_opset(onnx_model: onnx.ModelProto) -> int:
    """Version of the default ONNX operator set the model was exported with."""
    versions = [entry.version for entry in onnx_model.opset_import if entry.domain in _DEFAULT_DOMAINS]
    return max(versions, default=onnx.defs.onnx_opset_version())


def _check_graph(onnx_model: onnx.ModelProto, nodes: list[OnnxNode]) -> None:
    """Refuse, before any evaluation, a graph that Veil cannot evaluate faithfully."""
    graph = onnx_model.graph
    offenders = [
        f"{proto.op_type} (node {proto.name!r})"
        if proto.domain in _DEFAULT_DOMAINS
        else f"{proto.op_type} (node {proto.name!r}, domain {proto.domain!r})"
        for proto in graph.node
        if proto.op_type not in ONNX_OPS or proto.domain not in _DEFAULT_DOMAINS
    ]
    if offenders:
        raise UnsupportedOpError(_unsupported_ops_message(offenders))

    opset = _default_opset(onnx_model)
    consumed = {name for node in nodes for name in node.inputs} | {output.name for output in graph.output}
    for node in nodes:
        accepted = _attribute_names(ONNX_OPS[node.op_type])
        unknown = sorted(set(node.attributes) - accepted) if accepted is not None else []
        if unknown:
            raise UnsupportedOpError(
                f"ONNX op {node.op_type!r} (node {node.name!r}): attribute(s) {unknown} are not supported "
                f"(supported: {sorted(accepted)})."
            )
        if node.op_type in _OPSET_13_SEMANTICS and opset < 13:
            raise UnsupportedOpError(
                f"ONNX op {node.op_type!r} (node {node.name!r}) from opset {opset} is not supported: "
                "Veil implements the opset 13+ semantics; re-export with opset_version >= 13."
            )
        extra_outputs = [name for name in node.outputs[1:] if name and name in consumed]
        if extra_outputs:
            raise UnsupportedOpError(
                f"ONNX op {node.op_type!r} (node {node.name!r}): only the first output is supported, "
                f"but {extra_outputs} are used."
            )


class NumpyModule:
    """An ONNX model evaluated with numpy through the op registry ``ONNX_OPS``.

    Parameters
    ----------
    onnx_model : onnx.ModelProto
        The model to evaluate. Every node must be a supported op of the default ONNX domain.

    Attributes
    ----------
    onnx_model : onnx.ModelProto
        The model as given.
    input_names : list of str
        Graph inputs that are not initializers, in the order ``forward`` takes them.
    output_names : list of str
        Graph outputs, in the order ``forward`` returns them.
    initializers : dict of str to numpy.ndarray
        The model's constant tensors (weights, biases, quantization parameters).
    nodes : list of OnnxNode
        The graph's nodes in the file's (topological) order.
    input_shapes : list of tuple
        The declared shape of each input, with None for dynamic dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> from onnx import TensorProto, helper
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Relu", ["x"], ["y"])],
    ...     "relu",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    ... )
    >>> module = NumpyModule(helper.make_model(graph))
    >>> module(np.array([[-1.0, 2.0]]))
    array([[0., 2.]])
    """

    def __init__(self, onnx_model: onnx.ModelProto) -> None:
        if not isinstance(onnx_model, onnx.ModelProto):
            raise TypeError(f"onnx_model must be an onnx.ModelProto, got {type(onnx_model).__name__}.")
        graph = onnx_model.graph
        self.onnx_model = onnx_model
        self.initializers: dict[str, np.ndarray] = {
            tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer
        }
        graph_inputs = [value for value in graph.input if value.name not in self.initializers]
        self.input_names: list[str] = [value.name for value in graph_inputs]
        self.input_shapes: list[tuple[int | None, ...]] = [_static_shape(value) for value in graph_inputs]
        self.output_names: list[str] = [value.name for value in graph.output]
        self.nodes: list[OnnxNode] = [OnnxNode.from_proto(node) for node in graph.node]
        _check_graph(onnx_model, self.nodes)

    def forward(self, *inputs: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """Evaluate the graph; return one array for a single output, else a tuple."""
        if len(inputs) != len(self.input_names):
            raise InputValidationError(
                f"NumpyModule.forward expects {len(self.input_names)} input(s) {self.input_names}, "
                f"got {len(inputs)}."
            )
        values = dict(self.initializers)
        values.update(zip(self.input_names, (np.asarray(x) for x in inputs), strict=True))
        for node in self.nodes:
            node_inputs = [values[name] if name else None for name in node.inputs]
            values[node.outputs[0]] = evaluate_node(node, node_inputs)
        outputs = tuple(values[name] for name in self.output_names)
        return outputs[0] if len(outputs) == 1 else outputs

    __call__ = forward
