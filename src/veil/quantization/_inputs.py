"""Model inputs: the client encodes each graph input; several inputs travel as one encrypted row.

A circuit takes one encrypted tensor. A graph with several inputs gets one code per input (each with its
own quantizer); the client flattens and joins them, and the graph's first nodes cut the joined row back
into the inputs (a selection matrix: no lookup, exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._serialization import serializable
from ..errors import InputValidationError, UnsupportedOpError
from ._graph_builder import GraphBuilder
from ._integer_graph import TensorInfo
from ._layers import codes_info
from ._quantizers import UniformQuantizer
from ._steps import FloatStep, apply_steps

JOINED_INPUT = "input:codes"


@dataclass(frozen=True)
class ModelInput:
    """``Pending.source`` of values computed from graph input ``index`` (on the client)."""

    index: int


@serializable
@dataclass(frozen=True)
class InputEncoder:
    """Client side: float rows → the non-negative integer codes the circuit takes."""

    name: str
    row_shape: tuple[int, ...]
    steps: tuple[FloatStep, ...]
    quantizer: UniformQuantizer

    def encode(self, x: np.ndarray) -> np.ndarray:
        low, _ = self.quantizer.integer_bounds
        return self.quantizer.quantize(apply_steps(self.steps, x)) - low


@serializable
@dataclass(frozen=True)
class JointInputEncoder:
    """Client side of a graph with several inputs: each input encoded, flattened, and joined in order."""

    encoders: tuple[InputEncoder, ...]
    name: str = JOINED_INPUT

    @property
    def row_shapes(self) -> list[tuple[int, ...]]:
        return [encoder.row_shape for encoder in self.encoders]

    def encode(self, *xs: np.ndarray) -> np.ndarray:
        if len(xs) != len(self.encoders):
            raise InputValidationError(f"the model takes {len(self.encoders)} inputs, got {len(xs)}")
        codes = [encoder.encode(x) for encoder, x in zip(self.encoders, xs, strict=True)]
        return np.concatenate([code.reshape(code.shape[0], -1) for code in codes], axis=1)


def register_input(
    builder: GraphBuilder, index: int, row_shapes: list, steps, quantizer: UniformQuantizer
) -> InputEncoder:
    """The encoder of graph input ``index`` (of ``len(row_shapes)``), its codes registered in ``builder``."""
    row_shape = row_shapes[index]
    name = JOINED_INPUT if len(row_shapes) == 1 else f"input:{index}:codes"
    probe = apply_steps(steps, np.zeros((1, *row_shape)))
    builder.tensors[name] = codes_info(quantizer, probe.shape[1:])
    return InputEncoder(name, row_shape, tuple(steps), quantizer)


def client_encoder(
    builder: GraphBuilder, encoders: dict[int, InputEncoder], input_names: list[str]
) -> InputEncoder | JointInputEncoder:
    """What the client runs: the one input's encoder, or a joint one (see the module docstring)."""
    missing = [name for i, name in enumerate(input_names) if i not in encoders]
    if missing:
        raise UnsupportedOpError(f"the graph inputs {missing} reach no linear layer")
    if len(encoders) == 1:
        return encoders[0]
    return split_joined_input(builder, [encoders[i] for i in sorted(encoders)])


def split_joined_input(builder: GraphBuilder, encoders: list[InputEncoder]) -> JointInputEncoder:
    """Register the joined input and put, first in the graph, one selection node per input's codes."""
    infos = [builder.tensors[encoder.name] for encoder in encoders]
    highs = [np.broadcast_to(info.high, info.high.shape).reshape(-1) for info in infos]
    zero_points = [np.broadcast_to(info.zero_point, info.high.shape).reshape(-1) for info in infos]
    builder.tensors[JOINED_INPUT] = TensorInfo(
        high=np.concatenate(highs).reshape(1, -1), zero_point=np.concatenate(zero_points).reshape(1, -1)
    )
    existing, builder.nodes = builder.nodes, []
    total, start = sum(high.size for high in highs), 0
    for encoder, info, high in zip(encoders, infos, highs, strict=True):
        selection = np.zeros((total, high.size), dtype=np.int64)
        selection[start : start + high.size] = np.eye(high.size, dtype=np.int64)
        builder.add_linear([JOINED_INPUT], selection, info.row_shape, info.scale, 0.0, encoder.name)
        start += high.size
    builder.nodes += existing
    return JointInputEncoder(tuple(encoders))


def calibration_array(data) -> np.ndarray:
    """One graph input's calibration rows as float64, refusing empty or non-finite data."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim < 2 or data.shape[0] == 0:
        raise InputValidationError(f"calibration data must have shape (n_rows, ...), got {data.shape}")
    if not np.all(np.isfinite(data)):
        raise InputValidationError("calibration data contains NaN or infinite values")
    return data
