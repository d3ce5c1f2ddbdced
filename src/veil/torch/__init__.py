"""Compile users' torch networks to FHE."""

from ._compile import (
    build_quantized_module,
    compile_brevitas_qat_model,
    compile_onnx_model,
    compile_torch_model,
)
from ._export import torch_to_onnx

__all__ = [
    "build_quantized_module",
    "compile_brevitas_qat_model",
    "compile_onnx_model",
    "compile_torch_model",
    "torch_to_onnx",
]
