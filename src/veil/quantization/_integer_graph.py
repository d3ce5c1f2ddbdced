"""The integer graph: the one forward function that runs in clear, in simulation and encrypted.

Every encrypted tensor holds non-negative integers with a worst-case upper bound known before
compiling (``high``). Keeping tensors non-negative matters: concrete infers signedness from the values
it observes on the inputset, so a tensor that is signed in the worst case but happened to be
non-negative on the inputset would be decoded wrongly. Linear nodes therefore subtract their
worst-case minimum, and lookup tables return codes shifted to start at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import fhe
from .._serialization import serializable
from ._bounds import bit_width_of_range
from ._quantizers import UniformQuantizer


@serializable
@dataclass
class TensorInfo:
    """What is known about one encrypted integer tensor of the graph.

    ``float = (stored - zero_point) * scale + bias``; ``0 <= stored <= high`` for every input row.
    Arrays broadcast against one row, shape ``(1, *row_shape)``.
    """

    high: np.ndarray
    scale: np.ndarray | float = 1.0
    zero_point: np.ndarray | int = 0
    bias: np.ndarray | float = 0.0

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.high)[1:])

    @property
    def bit_width(self) -> int:
        return bit_width_of_range(0, self.high)

    def to_float(self, stored: np.ndarray) -> np.ndarray:
        return (np.asarray(stored, dtype=np.float64) - self.zero_point) * self.scale + self.bias


@serializable
@dataclass(frozen=True)
class Requantization:
    """The function a lookup table holds: dequantize, apply the float steps, quantize, shift to 0."""

    source: TensorInfo
    steps: tuple = ()
    quantizer: UniformQuantizer | None = None

    def __call__(self, stored: np.ndarray) -> np.ndarray:
        value = self.source.to_float(stored)
        for step in self.steps:
            value = step(value)
        low, _ = self.quantizer.integer_bounds
        return self.quantizer.quantize(value) - low


@serializable
@dataclass
class LinearNode:
    """``stored_out = (stored_in - input_zero_point) @ weight - output_low``: no table lookup.

    Rows of the inputs are flattened (and, with ``other_inputs``, joined in order) before the product;
    ``weight`` has one row per joined input position, so a convolution, a pooling, a sum of two tensors
    or a concatenation is one matrix. ``output_row_shape`` restores the output's row shape.
    """

    input: str
    output: str
    weight: np.ndarray
    input_zero_point: np.ndarray | int
    output_low: np.ndarray
    centered_bit_width: int
    product_bit_width: int
    output_bit_width: int
    other_inputs: tuple[str, ...] = ()
    output_row_shape: tuple[int, ...] | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input, *self.other_inputs)

    def evaluate(self, *stored):
        rows = stored[0].shape[0]
        product, start = None, 0
        # Joined inputs: the sum of each input's product with its own rows of the weight.
        for value in stored:
            flat = value if len(value.shape) == 2 else np.reshape(value, (rows, -1))
            end = start + flat.shape[1]
            zero_point = self.input_zero_point
            if np.ndim(zero_point):
                zero_point = zero_point[:, start:end]
            centered = flat - zero_point if np.any(zero_point) else flat
            centered = fhe.hint_bit_width(centered, self.centered_bit_width)
            term = centered @ self.weight[start:end]
            product = term if product is None else product + term
            start = end
        product = fhe.hint_bit_width(product, self.product_bit_width)
        result = fhe.hint_bit_width(product - self.output_low, self.output_bit_width)
        if self.output_row_shape is not None and len(self.output_row_shape) > 1:
            result = np.reshape(result, (rows, *self.output_row_shape))
        return result

    @property
    def bit_widths(self) -> list[int]:
        return [self.centered_bit_width, self.product_bit_width, self.output_bit_width]


def lookup_input_bit_width(high: np.ndarray, lsbs_to_remove: int) -> int:
    """Bit-width a lookup reads from values in ``[0, high]`` rounded to multiples of ``2**lsbs_to_remove``.

    Rounding up can carry past ``high`` (7 rounds to 8 with 2 bits removed): the width covers that too.
    """
    high = np.asarray(high, dtype=np.int64)
    rounded_high = ((high + (1 << lsbs_to_remove >> 1)) >> lsbs_to_remove) << lsbs_to_remove
    return max(bit_width_of_range(0, high), bit_width_of_range(0, rounded_high))


def removed_low_bits(high, kept_bits: int) -> int:
    """Low bits rounding removes from values in ``[0, high]`` so that ``kept_bits`` remain.

    The excess width over ``kept_bits``, and one more bit when rounding up would carry into a new top bit
    (the lookup then keeps its width). The integer graph and the training that sees its rounding
    (``veil.qat._rounding``) both count this way.
    """
    width = bit_width_of_range(0, high)
    lsbs = max(0, width - kept_bits)
    if lsbs and lookup_input_bit_width(high, lsbs) > width:
        lsbs += 1
    return lsbs


@serializable
@dataclass
class LookupNode:
    """``stored_out = function(round(stored_in))``: one programmable bootstrap per element."""

    input: str
    output: str
    function: Requantization = field(repr=False)
    lsbs_to_remove: int
    exact_rounding: bool
    input_bit_width: int
    output_bit_width: int

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    def evaluate(self, stored: np.ndarray):
        if self.lsbs_to_remove:
            stored = fhe.round_bit_pattern(stored, self.lsbs_to_remove, exact=self.exact_rounding)
            stored = fhe.hint_bit_width(stored, self.input_bit_width)
        looked_up = fhe.table_lookup(stored, self.function, self.input_bit_width, self.lsbs_to_remove)
        return fhe.hint_bit_width(looked_up, self.output_bit_width)

    @property
    def bit_widths(self) -> list[int]:
        return [self.input_bit_width, self.output_bit_width]


@serializable
@dataclass
class ProductNode:
    """``stored_out = (stored_a - zero_point_a) * (stored_b - zero_point_b) - output_low``, elementwise.

    Concrete multiplies two encrypted values with two table lookups (of their sum and difference squared).
    """

    input: str
    other_input: str
    output: str
    input_zero_point: np.ndarray | int
    other_zero_point: np.ndarray | int
    output_low: np.ndarray
    centered_bit_width: int
    output_bit_width: int

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input, self.other_input)

    def evaluate(self, stored, other):
        centered = fhe.hint_bit_width(stored - self.input_zero_point, self.centered_bit_width)
        other_centered = fhe.hint_bit_width(other - self.other_zero_point, self.centered_bit_width)
        return fhe.hint_bit_width(centered * other_centered - self.output_low, self.output_bit_width)

    @property
    def bit_widths(self) -> list[int]:
        return [self.centered_bit_width, self.output_bit_width]


IntegerNode = LinearNode | LookupNode | ProductNode


@serializable
@dataclass
class IntegerGraph:
    """Integer nodes in execution order, from one input tensor to one output tensor."""

    input: str
    output: str
    nodes: list[IntegerNode]
    tensors: dict[str, TensorInfo]

    def __call__(self, stored_input):
        values = {self.input: stored_input}
        for node in self.nodes:
            values[node.output] = node.evaluate(*(values[name] for name in node.inputs))
        return values[self.output]

    @property
    def max_bit_width(self) -> int:
        """Largest bit-width of any encrypted integer, known before compiling."""
        widths = [self.tensors[self.input].bit_width]
        widths += [width for node in self.nodes for width in node.bit_widths]
        return max(widths)

    def table_lookup_count(self) -> int:
        """Number of table lookups (elements) per row, rounding bootstraps excluded."""
        return sum(
            int(np.prod(self.tensors[node.output].row_shape, dtype=np.int64))
            for node in self.nodes
            if isinstance(node, LookupNode)
        )
