"""The inventory of ONNX operators that Veil evaluates: op name -> numpy function.

Every function follows one contract: ``op(*inputs, **attributes) -> np.ndarray``. Inputs are numpy
arrays (a missing optional input is ``None``), attributes are plain python values, the single output
keeps the float dtype of the inputs, and inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .ops import _activations, _arithmetic, _linear, _logic, _normalization, _quantize, _shape

ONNX_OPS: dict[str, Callable[..., np.ndarray]] = {
    # Linear algebra
    "Gemm": _linear.gemm,
    "MatMul": _linear.matmul,
    # Arithmetic and rounding
    "Abs": _arithmetic.abs_,
    "Add": _arithmetic.add,
    "Ceil": _arithmetic.ceil,
    "Clip": _arithmetic.clip,
    "Div": _arithmetic.div,
    "Erf": _arithmetic.erf,
    "Exp": _arithmetic.exp,
    "Floor": _arithmetic.floor,
    "Log": _arithmetic.log,
    "Max": _arithmetic.max_,
    "Min": _arithmetic.min_,
    "Mul": _arithmetic.mul,
    "Neg": _arithmetic.neg,
    "Pow": _arithmetic.pow_,
    "Reciprocal": _arithmetic.reciprocal,
    "Round": _arithmetic.round_,
    "Sign": _arithmetic.sign,
    "Sqrt": _arithmetic.sqrt,
    "Sub": _arithmetic.sub,
    "Sum": _arithmetic.sum_,
    # Activations
    "Celu": _activations.celu,
    "Elu": _activations.elu,
    "Gelu": _activations.gelu,
    "HardSigmoid": _activations.hard_sigmoid,
    "HardSwish": _activations.hard_swish,
    "LeakyRelu": _activations.leaky_relu,
    "LogSoftmax": _activations.log_softmax,
    "Mish": _activations.mish,
    "PRelu": _activations.prelu,
    "Relu": _activations.relu,
    "Selu": _activations.selu,
    "Sigmoid": _activations.sigmoid,
    "Softmax": _activations.softmax,
    "Softplus": _activations.softplus,
    "Softsign": _activations.softsign,
    "Tanh": _activations.tanh,
    "ThresholdedRelu": _activations.thresholded_relu,
    # Comparison and selection
    "Equal": _logic.equal,
    "Greater": _logic.greater,
    "Less": _logic.less,
    "Not": _logic.not_,
    "Where": _logic.where,
    # Normalization and regularization (inference)
    "BatchNormalization": _normalization.batch_normalization,
    "Dropout": _normalization.dropout,
    # Shapes, indexing, constants and casts
    "Cast": _shape.cast,
    "Concat": _shape.concat,
    "Constant": _shape.constant,
    "ConstantOfShape": _shape.constant_of_shape,
    "Expand": _shape.expand,
    "Flatten": _shape.flatten,
    "Gather": _shape.gather,
    "Identity": _shape.identity,
    "Reshape": _shape.reshape,
    "Shape": _shape.shape,
    "Slice": _shape.slice_,
    "Squeeze": _shape.squeeze,
    "Transpose": _shape.transpose,
    "Unsqueeze": _shape.unsqueeze,
    # Quantization
    "DequantizeLinear": _quantize.dequantize_linear,
    "QuantizeLinear": _quantize.quantize_linear,
}


def supported_ops() -> list[str]:
    """Names of the ONNX operators Veil evaluates, sorted."""
    return sorted(ONNX_OPS)
