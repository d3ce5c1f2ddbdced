"""The inventory of ONNX operators that Veil evaluates: op name -> numpy function and kind.

Every function follows one contract: ``op(*inputs, **attributes) -> np.ndarray``. Inputs are numpy
arrays (a missing optional input is ``None``), attributes are plain python values, the single output
keeps the float dtype of the inputs, and inputs are never modified.

An op's kind says how it treats the positions of a tensor, which is what the integer graph needs to know
(``veil.quantization`` derives its op classes from it):

- ``ELEMENTWISE``: each output element depends on the element at the same position only (once the other
  inputs are constants), so a chain of them after an accumulator is one table lookup per position;
- ``LINEAR``: a sum of constant-weighted input elements (an integer accumulator in the circuit);
- ``SHAPE``: the same values in another shape or order (no computation);
- ``INDEXING``: selects, repeats or joins values by position;
- ``ACROSS_POSITIONS``: an output element depends on several input positions non-linearly;
- ``CONSTANT``: the output does not depend on the input values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .ops import _activations, _arithmetic, _convolution, _linear, _logic, _normalization, _quantize, _shape

ELEMENTWISE = "elementwise"
LINEAR = "linear"
SHAPE = "shape"
INDEXING = "indexing"
ACROSS_POSITIONS = "across positions"
CONSTANT = "constant"
OP_KINDS = (ELEMENTWISE, LINEAR, SHAPE, INDEXING, ACROSS_POSITIONS, CONSTANT)
#: What each kind becomes in the encrypted circuit (the docs' supported-ops table).
KIND_IN_FHE = {
    LINEAR: "one integer matrix on the encrypted row: no table lookup",
    ELEMENTWISE: "folded, with the ops around it, into one table lookup per element",
    SHAPE: "folded into the next matrix or lookup: no cost",
    INDEXING: "folded into the next linear op's matrix: no cost",
    ACROSS_POSITIONS: "MaxPool: k-1 lookups per window of k; others: in clear, after the last linear layer",
    CONSTANT: "computed once, at conversion",
}


@dataclass(frozen=True)
class Op:
    """One registered operator: its numpy function and its kind (one of :data:`OP_KINDS`)."""

    function: Callable[..., np.ndarray]
    kind: str


OPS: dict[str, Op] = {
    # Linear algebra
    "Gemm": Op(_linear.gemm, LINEAR),
    "MatMul": Op(_linear.matmul, LINEAR),
    # Sliding windows
    "AveragePool": Op(_convolution.average_pool, LINEAR),
    "Conv": Op(_convolution.conv, LINEAR),
    "GlobalAveragePool": Op(_convolution.global_average_pool, LINEAR),
    "MaxPool": Op(_convolution.max_pool, ACROSS_POSITIONS),
    "Pad": Op(_convolution.pad, INDEXING),
    # Arithmetic and rounding
    "Abs": Op(_arithmetic.abs_, ELEMENTWISE),
    "Add": Op(_arithmetic.add, ELEMENTWISE),
    "Ceil": Op(_arithmetic.ceil, ELEMENTWISE),
    "Clip": Op(_arithmetic.clip, ELEMENTWISE),
    "Div": Op(_arithmetic.div, ELEMENTWISE),
    "Erf": Op(_arithmetic.erf, ELEMENTWISE),
    "Exp": Op(_arithmetic.exp, ELEMENTWISE),
    "Floor": Op(_arithmetic.floor, ELEMENTWISE),
    "Log": Op(_arithmetic.log, ELEMENTWISE),
    "Max": Op(_arithmetic.max_, ELEMENTWISE),
    "Min": Op(_arithmetic.min_, ELEMENTWISE),
    "Mul": Op(_arithmetic.mul, ELEMENTWISE),
    "Neg": Op(_arithmetic.neg, ELEMENTWISE),
    "Pow": Op(_arithmetic.pow_, ELEMENTWISE),
    "Reciprocal": Op(_arithmetic.reciprocal, ELEMENTWISE),
    "ReduceSum": Op(_arithmetic.reduce_sum, ACROSS_POSITIONS),
    "Round": Op(_arithmetic.round_, ELEMENTWISE),
    "Sign": Op(_arithmetic.sign, ELEMENTWISE),
    "Sqrt": Op(_arithmetic.sqrt, ELEMENTWISE),
    "Sub": Op(_arithmetic.sub, ELEMENTWISE),
    "Sum": Op(_arithmetic.sum_, ELEMENTWISE),
    # Activations
    "Celu": Op(_activations.celu, ELEMENTWISE),
    "Elu": Op(_activations.elu, ELEMENTWISE),
    "Gelu": Op(_activations.gelu, ELEMENTWISE),
    "HardSigmoid": Op(_activations.hard_sigmoid, ELEMENTWISE),
    "HardSwish": Op(_activations.hard_swish, ELEMENTWISE),
    "LeakyRelu": Op(_activations.leaky_relu, ELEMENTWISE),
    "LogSoftmax": Op(_activations.log_softmax, ACROSS_POSITIONS),
    "Mish": Op(_activations.mish, ELEMENTWISE),
    "PRelu": Op(_activations.prelu, ELEMENTWISE),
    "Relu": Op(_activations.relu, ELEMENTWISE),
    "Selu": Op(_activations.selu, ELEMENTWISE),
    "Sigmoid": Op(_activations.sigmoid, ELEMENTWISE),
    "Softmax": Op(_activations.softmax, ACROSS_POSITIONS),
    "Softplus": Op(_activations.softplus, ELEMENTWISE),
    "Softsign": Op(_activations.softsign, ELEMENTWISE),
    "Tanh": Op(_activations.tanh, ELEMENTWISE),
    "ThresholdedRelu": Op(_activations.thresholded_relu, ELEMENTWISE),
    # Comparison and selection
    "Equal": Op(_logic.equal, ELEMENTWISE),
    "Greater": Op(_logic.greater, ELEMENTWISE),
    "Less": Op(_logic.less, ELEMENTWISE),
    "Not": Op(_logic.not_, ELEMENTWISE),
    "Where": Op(_logic.where, ELEMENTWISE),
    # Normalization and regularization (inference)
    "BatchNormalization": Op(_normalization.batch_normalization, ELEMENTWISE),
    "Dropout": Op(_normalization.dropout, SHAPE),
    # Shapes, indexing, constants and casts
    "Cast": Op(_shape.cast, ELEMENTWISE),
    "Concat": Op(_shape.concat, INDEXING),
    "Constant": Op(_shape.constant, CONSTANT),
    "ConstantOfShape": Op(_shape.constant_of_shape, CONSTANT),
    "Expand": Op(_shape.expand, INDEXING),
    "Flatten": Op(_shape.flatten, SHAPE),
    "Gather": Op(_shape.gather, INDEXING),
    "Identity": Op(_shape.identity, SHAPE),
    "Reshape": Op(_shape.reshape, SHAPE),
    "Shape": Op(_shape.shape, CONSTANT),
    "Slice": Op(_shape.slice_, INDEXING),
    "Squeeze": Op(_shape.squeeze, SHAPE),
    "Transpose": Op(_shape.transpose, SHAPE),
    "Unsqueeze": Op(_shape.unsqueeze, SHAPE),
    # Quantization
    "DequantizeLinear": Op(_quantize.dequantize_linear, ELEMENTWISE),
    "QuantizeLinear": Op(_quantize.quantize_linear, ELEMENTWISE),
}

#: Op name -> numpy function, the evaluator's view of :data:`OPS`.
ONNX_OPS: dict[str, Callable[..., np.ndarray]] = {name: op.function for name, op in OPS.items()}


def supported_ops() -> list[str]:
    """Names of the ONNX operators Veil evaluates, sorted."""
    return sorted(OPS)


def supported_ops_table() -> str:
    """The supported ops as a markdown table, one row per kind (docs/own-networks.md embeds it)."""
    rows = ["| kind | in the encrypted circuit | ops |", "|---|---|---|"]
    for kind in OP_KINDS:
        names = ", ".join(f"`{name}`" for name in sorted(ops_of_kind(kind)))
        rows.append(f"| {kind} | {KIND_IN_FHE[kind]} | {names} |")
    return "\n".join(rows)


def ops_of_kind(*kinds: str) -> frozenset[str]:
    """Names of the registered ops of the given kinds."""
    unknown = sorted(set(kinds) - set(OP_KINDS))
    if unknown:
        raise ValueError(f"kinds must be among {OP_KINDS}, got {unknown}")
    return frozenset(name for name, op in OPS.items() if op.kind in kinds)
