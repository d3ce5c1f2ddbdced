"""Integer weights and tensor descriptions for the linear layers of the integer graph."""

from __future__ import annotations

import numpy as np

from ..errors import QuantizationError
from ._integer_graph import TensorInfo
from ._quantizers import UniformQuantizer


def codes_info(quantizer: UniformQuantizer, row_shape: tuple[int, ...]) -> TensorInfo:
    """The integer tensor that ``quantizer``'s codes, shifted to start at 0, form in rows of ``row_shape``."""
    low, high = quantizer.integer_bounds
    return TensorInfo(
        high=np.full((1, *row_shape), high - low, dtype=np.int64),
        scale=np.float64(np.asarray(quantizer.scale).reshape(-1)[0])
        if np.size(quantizer.scale) == 1
        else quantizer.scale,
        zero_point=np.asarray(quantizer.zero_point, dtype=np.int64) - low,
    )


def quantize_columns(values: np.ndarray, n_bits: int, is_signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-column weight codes centred on zero, and the column scales."""
    codes, scales = [], []
    for column in values.T:
        quantizer = UniformQuantizer.calibrate(
            column, n_bits, is_signed=is_signed, is_symmetric=is_signed, is_narrow=is_signed
        )
        codes.append(quantizer.quantize(column) - quantizer.zero_point)
        scales.append(quantizer.scale)
    return np.stack(codes, axis=1).astype(np.int64), np.asarray(scales, dtype=np.float64)


def imported_weight_codes(
    codes: np.ndarray, quantizer: UniformQuantizer, transposed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A QAT layer's own weight codes ``(in, out)`` centred on zero, and their scale per output column."""
    centered = codes.astype(np.int64) - np.asarray(quantizer.zero_point, dtype=np.int64)
    scale = np.broadcast_to(np.asarray(quantizer.scale, dtype=np.float64), centered.shape)
    if transposed:
        centered, scale = centered.T, scale.T
    # One scale per output column is what folds into the next lookup; check the codes allow it.
    column_scale = scale[0]
    if not np.allclose(scale, column_scale[None, :]):
        raise QuantizationError("weight scales must be per-tensor or per output channel")
    return centered.astype(np.int64), column_scale
