"""MaxPool as table lookups: ``max(a, b) = b + relu(a - b)``, a tournament over each window.

Each round pairs the window's candidates: one linear node computes every difference ``a - b``, one
lookup computes ``relu`` on it (same scale, so exactly), and one linear node adds ``b``. A window of ``m``
values costs ``m - 1`` lookups per output element; an AveragePool costs none, which is why FHE-friendly
networks prefer it.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from ..onnx import ONNX_OPS, OnnxNode
from ._bounds import bit_width_of_range
from ._graph_builder import GraphBuilder
from ._layers import dense_map
from ._quantizers import UniformQuantizer
from ._steps import FloatStep, apply_steps

_RELU = FloatStep(OnnxNode("Relu", ("difference",), ("positive part",), {}, "max-pool relu"), 0, (None,))


def window_selections(node, row_shape: tuple[int, ...], suffix, where: str):
    """One 0/1 matrix per kernel offset, picking that offset's element of every window; and the out shape."""
    attributes = node.attributes
    if any(attributes.get("pads", [])):
        raise UnsupportedOpError(f"{where}: padding is not supported (a padded position must never win)")
    kernel = tuple(attributes["kernel_shape"])
    channels = apply_steps(suffix, np.zeros((1, *row_shape))).shape[1]
    selections, out_shape = [], None
    for offset in np.ndindex(*kernel):
        # A depthwise convolution with a one-hot kernel reads exactly this offset of each window.
        one_hot = np.zeros((channels, 1, *kernel))
        one_hot[(slice(None), 0, *offset)] = 1.0

        def pick(x, one_hot=one_hot):
            return ONNX_OPS["Conv"](
                apply_steps(suffix, x),
                one_hot,
                group=channels,
                strides=attributes.get("strides"),
                dilations=attributes.get("dilations"),
            )

        matrix, out_shape = dense_map(pick, row_shape, where)
        selections.append(matrix.astype(np.int64))
    return selections, out_shape


def add_max_pool(
    builder: GraphBuilder, x_name: str, selections: list[np.ndarray], out_shape: tuple[int, ...], name: str
) -> str:
    """Append the tournament over ``selections`` of tensor ``x_name``; return the tensor of window maxima."""
    scale = builder.tensors[x_name].scale
    out_size = int(np.prod(out_shape))
    source, candidates, round_index = x_name, selections, 0
    if len(candidates) == 1:
        return builder.add_linear([x_name], candidates[0], out_shape, scale, 0.0, name)
    while len(candidates) > 1:
        pairs = list(zip(candidates[0::2], candidates[1::2], strict=False))
        leftover = candidates[2 * len(pairs) :]
        differences = builder.add_linear(
            [source],
            np.hstack([a - b for a, b in pairs]),
            (len(pairs) * out_size,),
            scale,
            0.0,
            f"{name}:difference:{round_index}",
        )
        info = builder.tensors[differences]
        bits = bit_width_of_range(0, info.high - info.zero_point)  # the largest positive difference
        positive = builder.add_lookup(
            differences, [_RELU], UniformQuantizer(max(bits, 1), False, scale), f"{name} (max of two values)"
        )
        n_next = len(pairs) + len(leftover)
        from_source = np.hstack([b for _, b in pairs] + leftover)
        from_positive = np.eye(len(pairs) * out_size, n_next * out_size, dtype=np.int64)
        shape = out_shape if n_next == 1 else (n_next * out_size,)
        source = builder.add_linear(
            [source, positive],
            np.vstack([from_source, from_positive]),
            shape,
            scale,
            0.0,
            f"{name}:maximum:{round_index}",
        )
        identity = np.eye(n_next * out_size, dtype=np.int64)
        candidates = [identity[:, j * out_size : (j + 1) * out_size] for j in range(n_next)]
        round_index += 1
    return source
