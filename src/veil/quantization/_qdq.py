"""Quantizers that a QAT network carries in its graph, read back from its QDQ nodes.

Brevitas exports an activation quantizer as ``QuantizeLinear [→ Clip] → DequantizeLinear`` and quantized
weights as integer codes behind a ``DequantizeLinear``; these helpers recover the
:class:`UniformQuantizer` each one implements.
"""

from __future__ import annotations

import numpy as np

from ..errors import QuantizationError
from ._bounds import bit_width_of_range
from ._quantizers import UniformQuantizer
from ._steps import FloatStep


def qdq_length(steps: list[FloatStep]) -> int:
    """Length of a trailing ``QuantizeLinear [→ Clip] → DequantizeLinear`` chain, 0 if none."""
    ops = [step.op_type for step in steps[-3:]]
    if ops[-3:] == ["QuantizeLinear", "Clip", "DequantizeLinear"]:
        return 3
    if ops[-2:] == ["QuantizeLinear", "DequantizeLinear"]:
        return 2
    return 0


def quantizer_of_qdq(steps: list[FloatStep]) -> UniformQuantizer | None:
    """The quantizer a trailing QDQ chain implements, or None."""
    length = qdq_length(steps)
    if not length:
        return None
    quantize, dequantize = steps[-length], steps[-1]
    clip = steps[-2] if length == 3 else None
    return _quantizer_from_nodes(quantize.constants, clip.constants if clip else None, dequantize)


def _quantizer_from_nodes(quantize_inputs, clip_inputs, dequantize: FloatStep) -> UniformQuantizer:
    scale = np.asarray(dequantize.constants[1], dtype=np.float64)
    zero_point = dequantize.constants[2] if len(dequantize.constants) > 2 else None
    dtype = np.asarray(zero_point).dtype if zero_point is not None else np.dtype(np.uint8)
    zero_point = (
        np.zeros((), dtype=np.int64) if zero_point is None else np.asarray(zero_point, dtype=np.int64)
    )
    info = np.iinfo(dtype)
    qmin, qmax = int(info.min), int(info.max)
    if clip_inputs is not None:
        if clip_inputs[1] is not None:
            qmin = max(qmin, int(np.asarray(clip_inputs[1])))
        if len(clip_inputs) > 2 and clip_inputs[2] is not None:
            qmax = min(qmax, int(np.asarray(clip_inputs[2])))
    if scale.size > 1:
        raise QuantizationError("per-channel activation quantizers are not supported; use per-tensor scales")
    n_bits = bit_width_of_range(qmin, qmax) if qmin < 0 else max(1, qmax.bit_length())
    return UniformQuantizer(
        n_bits=n_bits,
        is_signed=qmin < 0,
        scale=float(scale),
        zero_point=int(zero_point),
        qmin=qmin,
        qmax=qmax,
    )


def dequantized_weight_codes(node, values) -> tuple[np.ndarray, UniformQuantizer] | None:
    """Integer codes behind a folded ``DequantizeLinear`` of constant weights."""
    codes, scale = values[0], np.asarray(values[1], dtype=np.float64)
    zero_point = values[2] if len(values) > 2 and values[2] is not None else np.zeros((), np.int64)
    if not np.issubdtype(np.asarray(codes).dtype, np.integer):
        return None
    axis = node.attributes.get("axis", 1)
    shape = [1] * np.ndim(codes)
    if scale.size > 1:
        shape[axis] = -1
        scale = scale.reshape(shape)
        zero_point = np.asarray(zero_point).reshape(shape)
    quantizer = UniformQuantizer(
        n_bits=8, is_signed=True, scale=scale, zero_point=np.asarray(zero_point, dtype=np.int64)
    )
    return np.asarray(codes, dtype=np.int64), quantizer


def transpose_codes(codes, perm):
    values, quantizer = codes
    perm = tuple(perm) if perm is not None else tuple(reversed(range(values.ndim)))
    scale = np.asarray(quantizer.scale)
    zero_point = np.asarray(quantizer.zero_point)
    transposed = UniformQuantizer(
        n_bits=quantizer.n_bits,
        is_signed=quantizer.is_signed,
        scale=np.transpose(scale, perm) if scale.ndim == values.ndim else scale,
        zero_point=np.transpose(zero_point, perm) if zero_point.ndim == values.ndim else zero_point,
    )
    return np.transpose(values, perm), transposed
