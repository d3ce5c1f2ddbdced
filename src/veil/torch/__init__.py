"""Compile users' torch networks to FHE."""

from ._export import torch_to_onnx

__all__ = ["torch_to_onnx"]
