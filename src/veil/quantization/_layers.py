"""Linear layers as integer matrices: weight codes per output channel, and the dense map of any linear op.

Every linear op (Gemm, MatMul, Conv, AveragePool, GlobalAveragePool, and the shape ops before it) is one
linear map from the flattened input row to the flattened output row. Evaluating the op on the basis
vectors of the input row gives that map as a matrix, with strides, padding, dilation and groups already
in place; with integer weight codes the matrix is integer and its worst-case accumulator bounds are the
ones of :mod:`._bounds`. The matrix has ``input size x output size`` entries, which suits the small
images FHE can afford (an 8x8 digit: 64 x 288 for an 8-channel 3x3 convolution).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import QuantizationError, UnsupportedOpError
from ._integer_graph import TensorInfo
from ._quantizers import UniformQuantizer
from ._steps import apply_steps

# Weight input slot, weight axis of the output channels, and output axis of the channels, per op.
_WEIGHT_LAYOUT = {"Gemm": (1, 1, -1), "MatMul": (1, -1, -1), "Conv": (1, 0, 1)}


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


def weight_layout(op_type: str, attributes: dict) -> tuple[int, int, int] | None:
    """``(weight slot, weight channel axis, output channel axis)`` of a weighted linear op, else None."""
    layout = _WEIGHT_LAYOUT.get(op_type)
    if op_type == "Gemm" and attributes.get("transB", 0):
        return (1, 0, -1)
    return layout


def quantize_per_channel(
    values: np.ndarray, axis: int, n_bits: int, is_signed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Weight codes centred on zero (same shape as ``values``) and one scale per index of ``axis``."""
    moved = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    codes, scales = [], []
    for channel in moved.reshape(-1, moved.shape[-1]).T:
        quantizer = UniformQuantizer.calibrate(
            channel, n_bits, is_signed=is_signed, is_symmetric=is_signed, is_narrow=is_signed
        )
        codes.append(quantizer.quantize(channel) - quantizer.zero_point)
        scales.append(quantizer.scale)
    codes = np.stack(codes, axis=-1).reshape(moved.shape)
    return np.moveaxis(codes, -1, axis).astype(np.int64), np.asarray(scales, dtype=np.float64)


def imported_codes_per_channel(
    codes: np.ndarray, quantizer: UniformQuantizer, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """A QAT layer's own weight codes centred on zero, and one scale per index of ``axis``."""
    centered = codes.astype(np.int64) - np.asarray(quantizer.zero_point, dtype=np.int64)
    scale = np.moveaxis(
        np.broadcast_to(np.asarray(quantizer.scale, dtype=np.float64), centered.shape), axis, -1
    )
    per_channel = scale.reshape(-1, scale.shape[-1])
    # One scale per output channel is what folds into the next lookup; check the codes allow it.
    if not np.allclose(per_channel, per_channel[:1]):
        raise QuantizationError("weight scales must be per-tensor or per output channel")
    return centered, per_channel[0]


def dense_map(
    function: Callable[[np.ndarray], np.ndarray], row_shape: tuple[int, ...], where: str
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The matrix ``(input size, output size)`` of the linear ``function`` on rows of ``row_shape``."""
    size = int(np.prod(row_shape, dtype=np.int64))
    if np.any(function(np.zeros((1, *row_shape))) != 0):
        raise UnsupportedOpError(
            f"{where} is affine, not linear, in its encrypted input (a constant pad value other than 0?)"
        )
    images = np.asarray(function(np.eye(size).reshape(size, *row_shape)), dtype=np.float64)
    if images.shape[0] != size:
        raise UnsupportedOpError(f"{where} mixes rows: the first axis must stay the batch axis")
    return images.reshape(size, -1), tuple(images.shape[1:])


def integer_columns(matrix: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Split a float matrix into integer columns times one factor per column (a pooling's ``1/k``)."""
    factors = np.abs(matrix).max(axis=0)
    factors[factors == 0] = 1.0
    columns = matrix / factors
    integers = np.rint(columns)
    if not np.allclose(columns, integers, atol=1e-9):
        raise UnsupportedOpError(f"{where} is not an integer map up to one factor per output")
    return integers.astype(np.int64), factors


def linear_function(node, weight_codes: np.ndarray | None, evaluate, suffix) -> Callable:
    """``x -> op(suffix(x))`` with the weights replaced by their codes and no bias, alpha or beta."""
    attributes = {k: v for k, v in node.attributes.items() if k not in ("alpha", "beta")}
    node = type(node)(node.op_type, node.inputs, node.outputs, attributes, node.name)

    def function(x: np.ndarray) -> np.ndarray:
        x = apply_steps(suffix, x)
        if weight_codes is None:
            return evaluate(node, [x])
        return evaluate(node, [x, weight_codes.astype(np.float64), *[None] * (len(node.inputs) - 2)])

    return function


def channel_broadcast(values: np.ndarray, axis: int, row_shape: tuple[int, ...]) -> np.ndarray:
    """Per-channel ``values`` broadcast to shape ``(1, *row_shape)`` along output ``axis``."""
    shape = [1] * (len(row_shape) + 1)
    shape[axis] = -1
    return np.broadcast_to(np.asarray(values, dtype=np.float64).reshape(shape), (1, *row_shape))


def uniform_or_array(values: np.ndarray):
    """A scalar when every entry is the same (so the tensor counts as plain codes), else the array."""
    values = np.asarray(values, dtype=np.float64)
    return np.float64(values.flat[0]) if np.all(values == values.flat[0]) else values.copy()


def joint_dense_map(
    function: Callable[..., np.ndarray], row_shapes: list[tuple[int, ...]], where: str
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The stacked matrices of ``function``, linear in all its inputs together (a sum, a concatenation).

    Each input's rows of the matrix are its images with the other inputs at zero; a random probe then
    checks that the function really is that sum (a product of two inputs is not).
    """

    def images(arrays: list[np.ndarray]) -> np.ndarray:
        return np.asarray(function(*arrays), dtype=np.float64)

    blocks, out_shape = [], None
    for i, row_shape in enumerate(row_shapes):
        size = int(np.prod(row_shape, dtype=np.int64))
        arrays = [np.zeros((size, *shape)) for shape in row_shapes]
        arrays[i] = np.eye(size).reshape(size, *row_shape)
        result = images(arrays)
        blocks.append(result.reshape(size, -1))
        out_shape = tuple(result.shape[1:])
    matrix = np.vstack(blocks)
    probes = [
        np.random.default_rng(i).integers(-3, 4, (2, *shape)).astype(np.float64)
        for i, shape in enumerate(row_shapes)
    ]
    joined = np.concatenate([probe.reshape(2, -1) for probe in probes], axis=1)
    if not np.allclose(images(probes).reshape(2, -1), joined @ matrix):
        raise UnsupportedOpError(
            f"{where} combines several encrypted tensors non-linearly; Veil's integer graph adds, subtracts "
            "and concatenates encrypted tensors, and combines them with constants otherwise"
        )
    return matrix, out_shape


def bias_row(node, bias, channel_axis: int, out_shape: tuple[int, ...]):
    """A weighted op's bias (times Gemm's ``beta``) as one float per output position, or 0."""
    if not np.any(bias):
        return 0.0
    bias = np.asarray(bias, dtype=np.float64) * float(node.attributes.get("beta", 1.0))
    if node.op_type == "Conv":
        return channel_broadcast(bias, channel_axis, out_shape).copy()
    return np.broadcast_to(bias, (1, *out_shape)).copy()


def pooled_scale_and_bias(matrix: np.ndarray, info: TensorInfo, out_shape: tuple[int, ...]):
    """Scale and bias of a pooling's output over tensor ``info``, or None when a window mixes two scales.

    ``matrix`` is the float pooling map (entries ``1/k``): each output is ``sum_i m_i (q_i - z_i) s_i +
    sum_i m_i b_i``, one integer sum times ``s`` when every ``s_i`` of its window is the same ``s``.
    """
    scale = np.broadcast_to(np.asarray(info.scale, dtype=np.float64), info.high.shape).reshape(-1)
    bias = np.broadcast_to(np.asarray(info.bias, dtype=np.float64), info.high.shape).reshape(-1)
    used = matrix != 0
    lowest = np.where(used, scale[:, None], np.inf).min(axis=0)
    highest = np.where(used, scale[:, None], -np.inf).max(axis=0)
    lowest[~used.any(axis=0)] = highest[~used.any(axis=0)] = 1.0
    if not np.allclose(lowest, highest, rtol=1e-9, atol=0):
        return None
    pooled_bias = bias @ matrix
    return lowest.reshape(1, *out_shape), (pooled_bias.reshape(1, *out_shape) if np.any(pooled_bias) else 0.0)
