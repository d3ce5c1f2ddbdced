"""ONNX graph -> numpy evaluation through an explicit op registry."""

from ._numpy_module import NumpyModule, OnnxNode
from ._registry import ONNX_OPS, OPS, Op, ops_of_kind, supported_ops

__all__ = ["ONNX_OPS", "OPS", "NumpyModule", "Op", "OnnxNode", "ops_of_kind", "supported_ops"]
