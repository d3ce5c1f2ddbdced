"""Bit-width parameters: ``n_bits`` dictionaries and ``rounding_threshold_bits``."""

from __future__ import annotations

from dataclasses import dataclass

from .._serialization import serializable
from ..errors import QuantizationError

# Model inputs and outputs get at least this many bits: they carry the data, not an intermediate
# activation, and cost no table lookup of their own.
DEFAULT_MODEL_BITS = 5
MAX_QUANTIZATION_BITS = 16
_N_BITS_KEYS = ("model_inputs", "op_inputs", "op_weights", "model_outputs")


def _check_bits(name: str, value, low: int = 1, high: int = MAX_QUANTIZATION_BITS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise QuantizationError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def get_n_bits_dict(n_bits: int | dict[str, int]) -> dict[str, int]:
    """Expand ``n_bits`` into one bit-width per role.

    Parameters
    ----------
    n_bits : int or dict
        An int sets ``op_inputs`` and ``op_weights``; ``model_inputs`` and ``model_outputs`` get
        ``max(n_bits, 5)``. A dict must hold ``op_inputs`` and ``op_weights`` and may hold
        ``model_inputs`` and ``model_outputs`` (default: 5).

    Returns
    -------
    dict
        Keys ``model_inputs``, ``op_inputs``, ``op_weights``, ``model_outputs``.

    Examples
    --------
    >>> get_n_bits_dict(3)
    {'model_inputs': 5, 'op_inputs': 3, 'op_weights': 3, 'model_outputs': 5}
    """
    if isinstance(n_bits, dict):
        unknown = sorted(set(n_bits) - set(_N_BITS_KEYS))
        missing = sorted({"op_inputs", "op_weights"} - set(n_bits))
        if unknown or missing:
            raise QuantizationError(
                f"n_bits dict must have keys 'op_inputs' and 'op_weights' and may have 'model_inputs' and "
                f"'model_outputs'; got unknown keys {unknown} and missing keys {missing}"
            )
        result = {"model_inputs": DEFAULT_MODEL_BITS, "model_outputs": DEFAULT_MODEL_BITS, **n_bits}
        return {key: _check_bits(f"n_bits[{key!r}]", result[key]) for key in _N_BITS_KEYS}
    _check_bits("n_bits", n_bits)
    model_bits = max(n_bits, DEFAULT_MODEL_BITS)
    return {
        "model_inputs": model_bits,
        "op_inputs": n_bits,
        "op_weights": n_bits,
        "model_outputs": model_bits,
    }


@serializable
@dataclass(frozen=True)
class RoundingPolicy:
    """How accumulators are rounded before a table lookup.

    ``n_bits`` most significant bits are kept ("auto": the op input precision plus two guard bits);
    ``exact`` rounding is bit-identical in clear and FHE, approximate rounding is cheaper in FHE but
    may be off by one step.
    """

    n_bits: int | str
    exact: bool = True

    def kept_bits(self, n_bits_op_inputs: int) -> int:
        """Number of most significant bits an accumulator keeps."""
        return n_bits_op_inputs + 2 if self.n_bits == "auto" else int(self.n_bits)


def parse_rounding_threshold_bits(value) -> RoundingPolicy | None:
    """Validate ``rounding_threshold_bits``: None, an int, or ``{"n_bits": int | "auto", "method": str}``."""
    if value is None:
        return None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"n_bits", "method"})
        if unknown:
            raise QuantizationError(
                f"rounding_threshold_bits accepts the keys 'n_bits' and 'method', got unknown keys {unknown}"
            )
        n_bits = value.get("n_bits", "auto")
        method = str(getattr(value.get("method", "exact"), "value", value.get("method", "exact"))).lower()
        if method not in ("exact", "approximate"):
            raise QuantizationError(
                f"rounding_threshold_bits['method'] must be 'exact' or 'approximate', got {value['method']!r}"
            )
        if n_bits != "auto":
            _check_bits("rounding_threshold_bits['n_bits']", n_bits, low=2, high=MAX_QUANTIZATION_BITS)
        return RoundingPolicy(n_bits, exact=method == "exact")
    _check_bits("rounding_threshold_bits", value, low=2, high=MAX_QUANTIZATION_BITS)
    return RoundingPolicy(value)
