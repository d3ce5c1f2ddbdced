"""The integers behind a Brevitas layer: its input quantizer's integer range and its integer weights.

These feed the worst-case accumulator bounds of ``veil.quantization._bounds``, which the network checks
once trained and the prune route applies at every training step.
"""

from __future__ import annotations

import brevitas.nn as qnn
import numpy as np
import torch
from brevitas.function.ops import max_int, min_int
from brevitas.quant_tensor import IntQuantTensor

from veil.errors import AccumulatorOverflowError
from veil.quantization._bounds import accumulator_bit_width

__all__ = [
    "accumulator_bit_widths",
    "input_integer_range",
    "integer_range",
    "integer_weight",
    "quantized_input",
]


def integer_range(bit_width: int, signed: bool, narrow: bool) -> tuple[int, int]:
    """``(low, high)`` of a ``bit_width``-bit integer code, as Brevitas defines it."""
    bits = torch.tensor(float(bit_width))
    return int(min_int(signed, narrow, bits)), int(max_int(signed, narrow, bits))


def quantized_input(quantizer: qnn.QuantIdentity, n_features: int) -> IntQuantTensor:
    """A zero QuantTensor carrying ``quantizer``'s scale, zero point, bit-width and sign.

    The quantizer runs in eval mode: a training-mode call would count as a statistics-collection step.
    """
    was_training = quantizer.training
    quantizer.eval()
    try:
        with torch.no_grad():
            return quantizer(torch.zeros(1, n_features))
    finally:
        quantizer.train(was_training)


def input_integer_range(quantizer: qnn.QuantIdentity, sample: IntQuantTensor) -> tuple[int, int]:
    """Integer range of ``quantizer`` minus its zero point (``sample`` is one of its outputs)."""
    narrow = bool(quantizer.act_quant.is_narrow_range)
    low, high = integer_range(int(sample.bit_width), bool(sample.signed), narrow)
    zero_point = sample.zero_point
    if zero_point.numel() != 1 or float(zero_point) != round(float(zero_point)):
        raise AccumulatorOverflowError(f"expected a per-tensor integer zero point, got {zero_point}")
    return low - int(zero_point), high - int(zero_point)


def integer_weight(linear: qnn.QuantLinear, sample: IntQuantTensor | None, weight=None) -> np.ndarray:
    """Integer weights of ``linear`` minus their zero point; ``weight`` defaults to the layer's own.

    ``sample`` is the quantized input, which only the accumulator-aware quantizers read (its bit-width and
    sign); ``None`` is enough for the others and spares a quantizer call at every training step.
    """
    with torch.no_grad():
        if weight is None:
            quant_weight = linear.quant_weight(sample)
        elif linear.weight_quant.requires_quant_input:
            quant_weight = linear.weight_quant(weight, sample)
        else:
            quant_weight = linear.weight_quant(weight)
        integers = torch.round(quant_weight.value / quant_weight.scale) - quant_weight.zero_point
    if not torch.isfinite(integers).all():
        raise AccumulatorOverflowError(f"layer {linear} has non-finite quantized weights")
    return integers.cpu().numpy().astype(np.int64)


def accumulator_bit_widths(layer_inputs) -> list[int]:
    """Worst-case signed accumulator bit-width of each ``(input quantizer, linear layer)`` pair.

    For output neuron ``j`` with integer weights ``w_ij`` and an input quantizer whose integer range minus
    zero point is ``[x_min, x_max]``: ``lo_j = sum_i min(w_ij * x_min, w_ij * x_max)``, ``hi_j`` likewise
    with ``max``, and the width is the smallest ``b`` with ``-2**(b-1) <= lo_j`` and ``hi_j < 2**(b-1)``.
    """
    widths = []
    for quantizer, linear in layer_inputs:
        sample = quantized_input(quantizer, linear.in_features)
        low, high = input_integer_range(quantizer, sample)
        widths.append(accumulator_bit_width(integer_weight(linear, sample), low, high))
    return widths
