"""Uniform affine quantizers: ``q = clip(round(x / scale) + zero_point, qmin, qmax)``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._serialization import serializable
from ..errors import QuantizationError
from ._bounds import integer_range


@serializable
@dataclass(frozen=True)
class UniformQuantizer:
    """An affine map between floats and ``n_bits`` integers.

    Parameters
    ----------
    n_bits : int
        Width of the integer code.
    is_signed : bool
        Signed codes span ``[-2**(n-1), 2**(n-1) - 1]``, unsigned ones ``[0, 2**n - 1]``.
    is_narrow : bool
        Drop the most negative code (signed) or the largest one (unsigned), making signed codes symmetric.
    scale : float or numpy.ndarray
        Float value of one integer step; an array gives one scale per channel (broadcast against x).
    zero_point : int or numpy.ndarray
        Integer code of the float value 0.
    qmin, qmax : int or None
        Integer clipping bounds, when narrower than the ``n_bits`` code (an imported QAT quantizer's
        Clip node); ``None`` means the full code.
    """

    n_bits: int
    is_signed: bool
    scale: float | np.ndarray
    zero_point: int | np.ndarray = 0
    is_narrow: bool = False
    qmin: int | None = None
    qmax: int | None = None

    @property
    def integer_bounds(self) -> tuple[int, int]:
        """The ``(qmin, qmax)`` integer bounds of quantized values."""
        low, high = integer_range(self.n_bits, self.is_signed, self.is_narrow)
        return (low if self.qmin is None else self.qmin, high if self.qmax is None else self.qmax)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Map floats to integer codes (round half to even, as torch and ONNX do), clipped to the code."""
        low, high = self.integer_bounds
        q = np.round(np.asarray(x, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(np.nan_to_num(q, nan=0.0), low, high).astype(np.int64)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """Map integer codes back to floats."""
        return (np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale

    @classmethod
    def calibrate(
        cls,
        values: np.ndarray,
        n_bits: int,
        is_signed: bool = False,
        is_symmetric: bool = False,
        is_narrow: bool = False,
        power_of_two_scale: bool = False,
    ) -> UniformQuantizer:
        """Fit a per-tensor quantizer to the range of ``values``.

        Asymmetric quantizers map ``[min(values, 0), max(values, 0)]`` onto the whole code and get a
        zero point; symmetric ones (``zero_point = 0``) map ``[-max|values|, max|values|]``.
        ``power_of_two_scale`` rounds the scale up to a power of two, so the range is still covered.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.size and not np.all(np.isfinite(values)):
            raise QuantizationError("cannot calibrate a quantizer on NaN or infinite values")
        low_code, high_code = integer_range(n_bits, is_signed, is_narrow)
        v_min = min(float(values.min(initial=0.0)), 0.0)
        v_max = max(float(values.max(initial=0.0)), 0.0)
        if is_symmetric:
            magnitude = max(abs(v_min), abs(v_max))
            # A symmetric code has as many steps on each side of zero as its smaller half allows.
            half_steps = min(high_code, -low_code) if is_signed else high_code
            scale = magnitude / half_steps if magnitude > 0 else 1.0
            zero_point = 0
            if power_of_two_scale:
                scale = _round_up_to_power_of_two(scale)
            return cls(n_bits, is_signed, scale, zero_point, is_narrow)
        scale = (v_max - v_min) / (high_code - low_code) if v_max > v_min else 1.0
        if power_of_two_scale:
            scale = _round_up_to_power_of_two(scale)
        zero_point = int(np.clip(np.round(low_code - v_min / scale), low_code, high_code))
        return cls(n_bits, is_signed, scale, zero_point, is_narrow)


def _round_up_to_power_of_two(scale: float) -> float:
    return float(2.0 ** np.ceil(np.log2(scale)))
