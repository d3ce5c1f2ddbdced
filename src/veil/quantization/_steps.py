"""Float steps: ONNX nodes with one variable input, waiting to be folded into a table lookup."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._serialization import serializable
from ..errors import UnsupportedOpError
from ..onnx import OnnxNode, ops_of_kind
from ..onnx._numpy_module import evaluate_node
from ..onnx._registry import ELEMENTWISE, INDEXING, LINEAR, SHAPE

# Chains of elementwise ops after an accumulator are one univariate function per position, i.e. one table
# lookup; shape ops keep each element's value and are harmless inside a lookup when they keep the row shape.
ELEMENTWISE_OPS = ops_of_kind(ELEMENTWISE)
SHAPE_OPS = ops_of_kind(SHAPE)
LINEAR_OPS = ops_of_kind(LINEAR)
# Shape and indexing ops between an integer tensor and a linear op are folded into the op's matrix.
LINEAR_SUFFIX_OPS = ops_of_kind(SHAPE, INDEXING)


@serializable
@dataclass(frozen=True)
class FloatStep:
    """One ONNX node applied to a variable tensor, its other inputs fixed to constants."""

    node: OnnxNode
    variable_slot: int
    constants: tuple

    def __call__(self, value: np.ndarray) -> np.ndarray:
        inputs = list(self.constants)
        inputs[self.variable_slot] = value
        return evaluate_node(self.node, inputs)

    @property
    def op_type(self) -> str:
        return self.node.op_type


@serializable
@dataclass(frozen=True)
class CombineStep:
    """An ONNX node whose several variable inputs all derive from the same encrypted tensor.

    GELU, for one, is exported as ``x * 0.5 * (1 + erf(x / sqrt(2)))``: two branches of one value, so
    still a univariate function. Each branch replays its own steps from the shared starting value.
    """

    node: OnnxNode
    branches: dict  # input slot -> tuple of steps from the shared value
    constants: tuple

    def __call__(self, value: np.ndarray) -> np.ndarray:
        inputs = list(self.constants)
        for slot, branch in self.branches.items():
            inputs[slot] = apply_steps(branch, value)
        return evaluate_node(self.node, inputs)

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def nested_steps(self) -> list:
        return [step for branch in self.branches.values() for step in branch]


def apply_steps(steps: list[FloatStep] | tuple[FloatStep, ...], value: np.ndarray) -> np.ndarray:
    """Run ``steps`` in order on ``value``."""
    for step in steps:
        value = step(value)
    return value


def check_univariate(steps: list[FloatStep], row_shape: tuple[int, ...], where: str) -> None:
    """Refuse to fold ``steps`` into a table lookup unless they act elementwise and keep the row shape."""
    for step in _flatten(steps):
        if step.op_type not in ELEMENTWISE_OPS | SHAPE_OPS:
            raise UnsupportedOpError(
                f"ONNX op {step.op_type!r} (node {step.node.name!r}) mixes values across positions, so it "
                f"cannot be folded into a table lookup before {where}; it is only supported after the last "
                "linear layer, where Veil applies it in clear on the client"
            )
    probe = np.zeros((2, *row_shape))
    shape = np.shape(apply_steps(steps, probe))
    if shape != probe.shape:
        raise UnsupportedOpError(
            f"the ops {[step.op_type for step in steps]} before {where} change the row shape from "
            f"{probe.shape[1:]} to {shape[1:]}; only shape-preserving ops can be folded into a table lookup"
        )


def _flatten(steps) -> list:
    flat = []
    for step in steps:
        flat.append(step)
        flat.extend(_flatten(getattr(step, "nested_steps", [])))
    return flat
