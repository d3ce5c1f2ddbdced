"""ONNX graph -> numpy evaluation through an explicit op registry."""

from ._numpy_module import NumpyModule, OnnxNode
from ._registry import ONNX_OPS, supported_ops

__all__ = ["ONNX_OPS", "NumpyModule", "OnnxNode", "supported_ops"]
