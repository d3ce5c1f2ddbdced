import numpy as np
import pytest

from veil.quantization import UniformQuantizer, bit_width_of_range, integer_range


@pytest.mark.parametrize(
    ("n_bits", "signed", "narrow", "expected"),
    [
        (3, True, False, (-4, 3)),
        (3, True, True, (-3, 3)),
        (3, False, False, (0, 7)),
        (3, False, True, (0, 6)),
    ],
)
def test_integer_range(n_bits, signed, narrow, expected):
    assert integer_range(n_bits, signed, narrow) == expected


@pytest.mark.parametrize(
    ("low", "high", "bits"),
    [(0, 0, 1), (0, 1, 1), (0, 7, 3), (0, 8, 4), (-1, 0, 1), (-4, 3, 3), (-5, 3, 4), (-4, 4, 4)],
)
def test_bit_width_of_range(low, high, bits):
    assert bit_width_of_range(low, high) == bits


def test_asymmetric_calibration_covers_the_range_and_keeps_zero_exact():
    values = np.linspace(-1.0, 3.0, 101)
    quantizer = UniformQuantizer.calibrate(values, n_bits=4)
    codes = quantizer.quantize(values)
    assert (codes.min(), codes.max()) == (0, 15)
    assert quantizer.dequantize(quantizer.quantize(np.array([0.0])))[0] == 0.0
    assert np.abs(quantizer.dequantize(codes) - values).max() <= quantizer.scale / 2 + 1e-12


def test_symmetric_power_of_two_calibration():
    quantizer = UniformQuantizer.calibrate(
        np.array([-0.9, 0.3]), n_bits=3, is_signed=True, is_symmetric=True, power_of_two_scale=True
    )
    assert quantizer.zero_point == 0
    assert np.log2(quantizer.scale) == int(np.log2(quantizer.scale))
    assert quantizer.quantize(np.array([-0.9]))[0] >= -4


def test_out_of_range_values_are_clipped():
    quantizer = UniformQuantizer(n_bits=3, is_signed=False, scale=0.5, zero_point=2)
    np.testing.assert_array_equal(quantizer.quantize(np.array([-100.0, 100.0, np.nan])), [0, 7, 0])
