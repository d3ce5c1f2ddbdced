"""Helpers shared by the op families."""

from __future__ import annotations

import numpy as np

from veil.errors import UnsupportedOpError


def unsupported(op_type: str, attribute: str, value: object, supported: str) -> UnsupportedOpError:
    """Build the error for an attribute value that Veil does not evaluate."""
    return UnsupportedOpError(
        f"ONNX op {op_type!r}: attribute {attribute}={value!r} is not supported (supported: {supported})."
    )


def as_int_list(values: np.ndarray | list[int] | None) -> list[int] | None:
    """Turn an int64 tensor or attribute list (axes, shapes, starts...) into plain python ints."""
    if values is None:
        return None
    return [int(v) for v in np.asarray(values).reshape(-1)]


def normalize_axis(axis: int, rank: int) -> int:
    """Map a possibly negative axis into ``[0, rank)``."""
    return axis + rank if axis < 0 else axis
