"""Append integer nodes to a graph under construction, each with its worst-case bounds."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from ._bits import RoundingPolicy
from ._bounds import accumulator_bounds, bit_width_of_range
from ._integer_graph import (
    LinearNode,
    LookupNode,
    ProductNode,
    Requantization,
    TensorInfo,
    lookup_input_bit_width,
    removed_low_bits,
)
from ._layers import codes_info
from ._quantizers import UniformQuantizer
from ._steps import check_univariate


class GraphBuilder:
    """The integer nodes and tensors of a graph being built, in execution order.

    Parameters
    ----------
    rounding : RoundingPolicy or None
        How accumulators are rounded before a table lookup.
    n_bits_op_inputs : int
        The op input precision, which ``rounding_threshold_bits={"n_bits": "auto"}`` follows.
    """

    def __init__(self, rounding: RoundingPolicy | None, n_bits_op_inputs: int):
        self.rounding = rounding
        self.n_bits_op_inputs = n_bits_op_inputs
        self.nodes: list = []
        self.tensors: dict[str, TensorInfo] = {}

    def is_codes(self, name: str) -> bool:
        """Whether tensor ``name`` is plain codes: one scale, no bias (a linear layer can read it as is)."""
        info = self.tensors[name]
        return np.size(info.scale) == 1 and not np.any(info.bias)

    def add_linear(
        self,
        inputs: list[str],
        weight: np.ndarray,
        output_row_shape: tuple[int, ...],
        scale,
        bias,
        output: str,
    ) -> str:
        """Append ``(joined centred inputs) @ weight``, shifted to start at 0 by its worst-case minimum."""
        infos = [self.tensors[name] for name in inputs]
        zero_point = np.concatenate(
            [np.broadcast_to(info.zero_point, info.high.shape).reshape(-1) for info in infos]
        ).astype(np.int64)
        high = np.concatenate([info.high.reshape(-1) for info in infos])
        centered_low, centered_high = -zero_point, high - zero_point
        weight = np.asarray(weight, dtype=np.int64)
        out_low, out_high = accumulator_bounds(weight.T, centered_low, centered_high)
        self.nodes.append(
            LinearNode(
                input=inputs[0],
                other_inputs=tuple(inputs[1:]),
                output=output,
                weight=weight,
                input_zero_point=_compact(zero_point),
                output_low=out_low.reshape(1, -1),
                centered_bit_width=bit_width_of_range(centered_low, centered_high),
                product_bit_width=bit_width_of_range(out_low, out_high),
                output_bit_width=bit_width_of_range(0, out_high - out_low),
                output_row_shape=tuple(output_row_shape),
            )
        )
        self.tensors[output] = TensorInfo(
            high=(out_high - out_low).reshape(1, *output_row_shape),
            scale=scale,
            zero_point=-out_low.reshape(1, *output_row_shape),
            bias=bias,
        )
        return output

    def add_product(self, first: str, second: str, output: str) -> str:
        """Append the elementwise product of two codes tensors of one row shape."""
        a, b = self.tensors[first], self.tensors[second]
        if a.row_shape != b.row_shape:
            raise UnsupportedOpError(
                f"encrypted x encrypted products need operands of one shape, got {a.row_shape} and "
                f"{b.row_shape}"
            )
        za, zb = np.asarray(a.zero_point, np.int64), np.asarray(b.zero_point, np.int64)
        a_low, b_low = np.broadcast_to(-za, a.high.shape), np.broadcast_to(-zb, b.high.shape)
        a_high, b_high = a.high - za, b.high - zb
        corners = np.stack([a_low * b_low, a_low * b_high, a_high * b_low, a_high * b_high])
        out_low, out_high = corners.min(axis=0), corners.max(axis=0)
        centered = bit_width_of_range(np.minimum(a_low, b_low), np.maximum(a_high, b_high))
        self.nodes.append(
            ProductNode(
                first, second, output, za, zb, out_low, centered, bit_width_of_range(0, out_high - out_low)
            )
        )
        self.tensors[output] = TensorInfo(
            high=out_high - out_low, scale=np.float64(a.scale) * np.float64(b.scale), zero_point=-out_low
        )
        return output

    def add_lookup(self, source: str, steps, quantizer: UniformQuantizer, where: str) -> str:
        """Append the lookup ``quantize(steps(dequantize(source)))``; refuse steps that mix positions."""
        info = self.tensors[source]
        check_univariate(steps, info.row_shape, where)
        lsbs = 0 if self.rounding is None else removed_low_bits(info.high, self.kept_bits)
        low, high = quantizer.integer_bounds
        name = f"{source}:requantized:{len(self.nodes)}"
        self.nodes.append(
            LookupNode(
                input=source,
                output=name,
                function=Requantization(info, tuple(steps), quantizer),
                lsbs_to_remove=lsbs,
                exact_rounding=self.rounding is None or self.rounding.exact,
                input_bit_width=lookup_input_bit_width(info.high, lsbs),
                output_bit_width=bit_width_of_range(0, high - low),
            )
        )
        self.tensors[name] = codes_info(quantizer, info.row_shape)
        return name

    @property
    def kept_bits(self) -> int:
        """Bits an accumulator keeps before its lookup when rounding (``rounding`` is set)."""
        return self.rounding.kept_bits(self.n_bits_op_inputs)

    def widest_before(self, name: str, input_name: str) -> int:
        """Largest bit-width of the encrypted values before the node computing ``name``."""
        widths = [self.tensors[input_name].bit_width]
        for node in self.nodes:
            if node.output == name:
                break
            widths += node.bit_widths
        return max(widths)


def _compact(zero_point: np.ndarray):
    """One integer when every position shares the zero point, else a row ``(1, n)``."""
    if np.all(zero_point == zero_point[0]):
        return int(zero_point[0])
    return zero_point.reshape(1, -1)
