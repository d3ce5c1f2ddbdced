"""Remove hidden neurons that cost a table lookup but cannot change the output.

A hidden neuron sits between two linear layers: ``LinearNode -> LookupNode -> LinearNode``. It is idle
when the next layer gives it only zero weights (pruned outgoing connections), or when its accumulator can
only be 0 (all incoming weights pruned, so the lookup returns a constant). An idle neuron still costs a
programmable bootstrap per row; removing it is exact:

- an unused neuron contributes nothing to the next layer;
- a constant neuron contributes a constant vector to the next layer's accumulator, which is folded into
  that layer's ``output_low`` offset, so its stored output is bit-for-bit the same.

Neuron pruning (``n_prune_neurons_percentage``, ``prune()``) leaves such neurons behind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._serialization import serializable
from ._bounds import bit_width_of_range
from ._integer_graph import IntegerGraph, LinearNode, LookupNode, TensorInfo, lookup_input_bit_width


@serializable
@dataclass(frozen=True)
class KeptPositions:
    """A lookup function restricted to some positions of its original row of ``width`` values."""

    function: object
    width: int
    kept: np.ndarray

    def __call__(self, stored: np.ndarray) -> np.ndarray:
        full = np.zeros((stored.shape[0], self.width), dtype=np.int64)
        full[:, self.kept] = stored
        return np.asarray(self.function(full), dtype=np.int64)[:, self.kept]


def drop_idle_neurons(graph: IntegerGraph) -> IntegerGraph:
    """Return ``graph`` without its idle hidden neurons (see the module docstring); the input is unchanged."""
    nodes = list(graph.nodes)
    tensors = dict(graph.tensors)
    for index in range(len(nodes) - 2):
        first, lookup, second = nodes[index : index + 3]
        if not _is_hidden_layer(first, lookup, second, nodes, graph.output, tensors):
            continue
        kept, constant = _idle_positions(first, lookup, second, tensors)
        if kept.size == tensors[first.output].high.shape[1]:
            continue
        nodes[index], tensors[first.output] = _keep_outputs(first, tensors[first.output], kept)
        nodes[index + 1], tensors[lookup.output] = _keep_lookups(lookup, tensors, kept)
        nodes[index + 2] = _keep_inputs(second, tensors[second.output], kept, constant)
    return IntegerGraph(input=graph.input, output=graph.output, nodes=nodes, tensors=tensors)


def hidden_neurons(graph: IntegerGraph) -> list[tuple[int, int]]:
    """``(node index, position)`` of every hidden neuron of ``graph``: the node index of the linear layer
    whose accumulator the neuron's lookup reads, and the neuron's position in that layer."""
    found = []
    for index in range(len(graph.nodes) - 2):
        first, lookup, second = graph.nodes[index : index + 3]
        if _is_hidden_layer(first, lookup, second, graph.nodes, graph.output, graph.tensors):
            found += [(index, position) for position in range(second.weight.shape[0])]
    return found


def without_neurons(graph: IntegerGraph, neurons) -> IntegerGraph:
    """``graph`` without the hidden ``neurons`` (items of :func:`hidden_neurons`): each one's outgoing
    weights become 0, so it no longer changes the next layer, and it is dropped as idle. The next layer's
    stored outputs stay within their bounds: a removed contribution only narrows the range of the sum."""
    nodes = list(graph.nodes)
    for index, position in neurons:
        reader = nodes[index + 2]
        weight = np.array(reader.weight, copy=True)
        weight[position, :] = 0
        nodes[index + 2] = dataclasses.replace(reader, weight=weight)
    return drop_idle_neurons(
        IntegerGraph(input=graph.input, output=graph.output, nodes=nodes, tensors=dict(graph.tensors))
    )


def _is_hidden_layer(first, lookup, second, nodes, output: str, tensors) -> bool:
    if not (
        isinstance(first, LinearNode)
        and isinstance(lookup, LookupNode)
        and isinstance(second, LinearNode)
        and lookup.input == first.output
        and second.inputs == (lookup.output,)
    ):
        return False
    if len(tensors[first.output].row_shape) != 1 or output in (first.output, lookup.output):
        return False
    readers = [name for node in nodes for name in node.inputs]
    return readers.count(first.output) == 1 and readers.count(lookup.output) == 1


def _idle_positions(first, lookup, second, tensors) -> tuple[np.ndarray, np.ndarray]:
    """Positions to keep, and each removed position's constant contribution to the next layer."""
    width = tensors[first.output].high.shape[1]
    constant_accumulator = tensors[first.output].high[0] == 0
    unused = ~np.any(second.weight != 0, axis=1)
    idle = constant_accumulator | unused
    if idle.all():
        idle[0] = False  # keep one neuron: a layer with no inputs is not a circuit
    looked_up = np.asarray(lookup.function(np.zeros((1, width), dtype=np.int64)), dtype=np.int64)[0]
    centered = looked_up - np.broadcast_to(np.asarray(second.input_zero_point).reshape(-1), (width,))
    folded = np.where(idle & ~unused, centered, 0)[:, None] * second.weight
    return np.flatnonzero(~idle), folded.sum(axis=0)


def _slice(value, kept: np.ndarray, width: int):
    """Keep the positions ``kept`` of a per-position array (shape (n,) or (1, n)); scalars pass through."""
    array = np.asarray(value)
    if array.size == width > 1:
        return array[..., kept]
    return value


def _sliced_info(info: TensorInfo, kept: np.ndarray) -> TensorInfo:
    width = info.high.shape[1]
    return TensorInfo(
        high=info.high[:, kept],
        scale=_slice(info.scale, kept, width),
        zero_point=_slice(info.zero_point, kept, width),
        bias=_slice(info.bias, kept, width),
    )


def _keep_outputs(node: LinearNode, info: TensorInfo, kept: np.ndarray) -> tuple[LinearNode, TensorInfo]:
    output_low = node.output_low[:, kept]
    high = info.high[:, kept]
    new = dataclasses.replace(
        node,
        weight=node.weight[:, kept],
        output_low=output_low,
        product_bit_width=bit_width_of_range(output_low, output_low + high),
        output_bit_width=bit_width_of_range(0, high),
    )
    return new, _sliced_info(info, kept)


def _keep_lookups(node: LookupNode, tensors, kept: np.ndarray) -> tuple[LookupNode, TensorInfo]:
    source = tensors[node.input]  # already sliced
    width = tensors[node.output].high.shape[1]
    new = dataclasses.replace(
        node,
        function=KeptPositions(node.function, width, kept),
        input_bit_width=lookup_input_bit_width(source.high, node.lsbs_to_remove),
        output_bit_width=bit_width_of_range(0, tensors[node.output].high[:, kept]),
    )
    return new, _sliced_info(tensors[node.output], kept)


def _keep_inputs(node: LinearNode, info: TensorInfo, kept: np.ndarray, constant: np.ndarray) -> LinearNode:
    output_low = node.output_low - constant.reshape(1, -1)
    return dataclasses.replace(
        node,
        weight=node.weight[kept, :],
        input_zero_point=_slice(node.input_zero_point, kept, node.weight.shape[0]),
        product_bit_width=bit_width_of_range(output_low, output_low + info.high),
        output_low=output_low,
    )
