"""The integer model's accumulator rounding, seen by training.

With ``rounding_threshold_bits``, the integer model keeps only the top bits of each hidden accumulator
before its lookup: the graph builder (``veil.quantization._graph_builder``) offsets every neuron's
accumulator to start at 0 (``stored = acc - low``), then removes the layer's excess low bits, rounding to
nearest with ties up (concrete's exact ``round_bit_pattern``). A torch network that never sees that
rounding learns weights that lean on the bits it removes; removing three of them cost 4-7 points
(docs/decisions/rounded-candidate.md). :func:`rounding_error` computes, from the layer's current integer
weights and inputs, what the rounding adds to each accumulator, so that the forward pass can add it with a
straight-through gradient. The count of removed bits follows the layer's widest accumulator, as the
integer model's will, so it can change from one training step to the next; removing a constant count
(the budget's) instead measured no better (docs/decisions/rounding-aware-training.md).
"""

from __future__ import annotations

import brevitas.nn as qnn
import torch

from veil.quantization._bounds import accumulator_bounds
from veil.quantization._integer_graph import removed_low_bits

__all__ = ["rounding_error"]


def rounding_error(
    linear: qnn.QuantLinear, quant_input, input_range: tuple[int, int], kept_bits: int
) -> torch.Tensor | None:
    """What the integer model's rounding adds to ``linear``'s outputs, in their float units (no gradient).

    Parameters
    ----------
    linear : brevitas.nn.QuantLinear
        A hidden layer, its weights quantized per output channel with a zero point of 0.
    quant_input : brevitas QuantTensor
        The layer's quantized input (its zero point is 0).
    input_range : tuple of int
        ``(low, high)`` of the input's integer codes.
    kept_bits : int
        Bits each accumulator keeps before its lookup.

    Returns
    -------
    torch.Tensor or None
        ``(rows, out_features)`` to add to the layer's output; None when the layer keeps every bit.
    """
    with torch.no_grad():
        weight = linear.quant_weight(quant_input)
        weight_scale = weight.scale.reshape(-1)
        integer_weight = torch.round(weight.value / weight.scale)
        lowest, highest = accumulator_bounds(integer_weight.numpy(), *input_range)
        lsbs = removed_low_bits(highest - lowest, kept_bits)
        if lsbs == 0:
            return None
        integer_input = torch.round(quant_input.value / quant_input.scale)
        stored = integer_input @ integer_weight.T - torch.as_tensor(lowest, dtype=integer_input.dtype)
        step = float(1 << lsbs)
        rounded = torch.floor((stored + step / 2) / step) * step
        return (rounded - stored) * (quant_input.scale.reshape(()) * weight_scale)
