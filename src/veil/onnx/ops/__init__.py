"""Numpy implementations of ONNX operators, one small function per op, grouped by family."""
