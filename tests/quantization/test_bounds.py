"""veil.quantization._bounds: the one home of worst-case accumulator bounds and bit-width arithmetic."""

import itertools

import numpy as np
import pytest

from veil.quantization._bounds import accumulator_bounds, bit_width_of_range, integer_range, signed_bit_width


@pytest.mark.parametrize(("low", "high"), [(-9, 9), (-64, -64), (-1, 0), (0, 0), (0, 127), (-128, 127)])
def test_bit_widths_are_the_smallest_codes_that_hold_the_range(low, high):
    bits = bit_width_of_range(low, high)
    code_low, code_high = integer_range(bits, is_signed=low < 0)
    assert code_low <= low and high <= code_high
    smaller_low, smaller_high = integer_range(bits - 1, is_signed=low < 0) if bits > 1 else (0, -1)
    assert not (smaller_low <= low and high <= smaller_high)


def test_signed_bit_width_is_the_signed_reading_of_the_same_rule():
    assert signed_bit_width(0, 7) == bit_width_of_range(0, 7, signed=True) == 4
    assert bit_width_of_range(0, 7) == 3
    for low, high in itertools.product(range(-20, 1), range(0, 20)):
        code_low, code_high = integer_range(signed_bit_width(low, high), is_signed=True)
        assert code_low <= low and high <= code_high


def test_per_input_bounds_match_exhaustive_enumeration():
    weights = np.array([[2, -3, 1], [-1, 0, 4]])
    input_low, input_high = np.array([-2, 0, -1]), np.array([1, 3, 2])
    ranges = [range(lo, hi + 1) for lo, hi in zip(input_low, input_high, strict=True)]
    grid = np.array(list(itertools.product(*ranges)))
    accumulators = grid @ weights.T
    low, high = accumulator_bounds(weights, input_low, input_high)
    np.testing.assert_array_equal(low, accumulators.min(axis=0))
    np.testing.assert_array_equal(high, accumulators.max(axis=0))
