"""Worst-case integer accumulators of a quantized linear layer, and the pruning that makes them fit.

A linear layer in the integer graph computes, for each output neuron ``j``, ``acc_j = sum_i w_ij * x_i``
with integer weights ``w_ij`` and integer inputs ``x_i`` in ``[input_low, input_high]`` (the input
quantizer's integer range minus its zero point). Its extreme values over every representable input are

    low_j  = sum_i min(w_ij * input_low, w_ij * input_high)
    high_j = sum_i max(w_ij * input_low, w_ij * input_high)

and the accumulator fits ``b`` signed bits when ``-2**(b-1) <= low_j`` and ``high_j <= 2**(b-1) - 1``.
Everything here is plain integer arithmetic on numpy arrays so that it can be checked by hand.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "accumulator_bit_width",
    "accumulator_bounds",
    "bit_width_of_range",
    "fitting_mask",
    "integer_range",
    "max_fitting_inputs",
    "signed_bit_width",
]


def integer_range(n_bits: int, is_signed: bool, is_narrow: bool = False) -> tuple[int, int]:
    """Smallest and largest integer of an ``n_bits`` code (narrow range drops the most negative one)."""
    if is_signed:
        return -(2 ** (n_bits - 1)) + int(is_narrow), 2 ** (n_bits - 1) - 1
    return 0, 2**n_bits - 1 - int(is_narrow)


def bit_width_of_range(low, high, *, signed: bool | None = None) -> int:
    """Bits an integer needs to hold every value of ``[min(low), max(high)]``.

    The code is two's complement when ``signed`` (by default: when the range holds a negative value), so
    ``b`` signed bits hold ``[-2**(b-1), 2**(b-1) - 1]`` and ``b`` unsigned bits ``[0, 2**b - 1]``.
    """
    low, high = int(np.min(low)), int(np.max(high))
    if signed is None:
        signed = low < 0
    if not signed:
        return max(1, high.bit_length())
    negative_bits = (-low - 1).bit_length() if low < 0 else 0
    return max(negative_bits, max(high, 0).bit_length()) + 1


def signed_bit_width(low: int, high: int) -> int:
    """Smallest ``b >= 1`` such that ``[low, high]`` fits the signed range ``[-2**(b-1), 2**(b-1) - 1]``."""
    return bit_width_of_range(low, high, signed=True)


def _contributions(int_weight: np.ndarray, input_low, input_high) -> tuple[np.ndarray, np.ndarray]:
    """Per-weight lowest and highest contribution ``w * x`` over ``x`` in ``[input_low, input_high]``."""
    at_low = int_weight * np.asarray(input_low, dtype=np.int64)
    at_high = int_weight * np.asarray(input_high, dtype=np.int64)
    return np.minimum(at_low, at_high), np.maximum(at_low, at_high)


def accumulator_bounds(int_weight: np.ndarray, input_low, input_high) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest accumulator value of each output neuron (row of ``int_weight``), over all inputs.

    ``input_low`` and ``input_high`` are integers, or arrays of one bound per input (column of
    ``int_weight``). A convolution is the same sum over its kernel: pass the kernel reshaped to
    ``(out_channels, in_channels_per_group * kernel_size)``; zero padding stays inside the bounds
    whenever ``input_low <= 0 <= input_high``.
    """
    weights = np.asarray(np.rint(int_weight), dtype=np.int64)
    lows, highs = _contributions(weights, input_low, input_high)
    return lows.sum(axis=1), highs.sum(axis=1)


def accumulator_bit_width(int_weight: np.ndarray, input_low: int, input_high: int) -> int:
    """Worst-case signed accumulator bit-width of a layer with integer weights of shape (outputs, inputs)."""
    lows, highs = accumulator_bounds(int_weight, input_low, input_high)
    return signed_bit_width(int(lows.min(initial=0)), int(highs.max(initial=0)))


def fitting_mask(
    int_weight: np.ndarray,
    priority: np.ndarray,
    input_low: int,
    input_high: int,
    n_accum_bits: int,
) -> np.ndarray:
    """Keep, per output neuron, the highest-priority weights whose worst case fits ``n_accum_bits``.

    Weights are visited in decreasing ``priority`` (typically the float magnitude, so the order is the
    integer magnitude with ties broken by the float value). A weight is kept when the neuron's bounds still
    fit once it is added, and skipped otherwise; smaller weights later in the order may still fit. With an
    unsigned input, a neuron whose positive half is full can therefore still take negative weights.

    Returns a boolean array shaped like ``int_weight``; the kept weights satisfy the bound by construction.
    """
    weights = np.asarray(np.rint(int_weight), dtype=np.int64)
    lowest, highest = integer_range(n_accum_bits, is_signed=True)
    order = np.argsort(-np.asarray(priority, dtype=np.float64), axis=1, kind="stable")
    contribution_low, contribution_high = _contributions(weights, int(input_low), int(input_high))
    # One row per visiting position, contiguous, so that the loop below only touches views.
    sorted_low = np.ascontiguousarray(np.take_along_axis(contribution_low, order, axis=1).T)
    sorted_high = np.ascontiguousarray(np.take_along_axis(contribution_high, order, axis=1).T)
    kept_sorted = np.empty(sorted_low.shape, dtype=bool)
    low = np.zeros(weights.shape[0], dtype=np.int64)
    high = np.zeros(weights.shape[0], dtype=np.int64)
    for position, (add_low, add_high) in enumerate(zip(sorted_low, sorted_high, strict=True)):
        fits = kept_sorted[position]
        np.logical_and(low + add_low >= lowest, high + add_high <= highest, out=fits)
        low += add_low * fits
        high += add_high * fits
    mask = np.empty(weights.shape, dtype=bool)
    np.put_along_axis(mask, order, kept_sorted.T, axis=1)
    return mask


def max_fitting_inputs(max_weight: int, input_low: int, input_high: int, n_accum_bits: int) -> int:
    """How many inputs a neuron may use when every weight can take any value in ``[-max_weight, max_weight]``.

    This is the count that fits whatever the weights are: ``k`` inputs, all at the largest weight of the
    worst sign.
    """
    worst_input = max(abs(int(input_low)), abs(int(input_high)))
    if max_weight == 0 or worst_input == 0:
        raise ValueError("max_active_neurons is unbounded when the weights or the inputs are all zero")
    # k same-sign weights at the largest magnitude reach +-k * max_weight * worst_input; the positive side
    # binds because the signed range holds one more negative value than positive ones.
    _, highest = integer_range(n_accum_bits, is_signed=True)
    return int(highest // (max_weight * worst_input))
