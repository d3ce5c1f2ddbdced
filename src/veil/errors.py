"""Veil's exception types.

Every error Veil raises on bad input says which parameter was wrong, what was expected and what came.
The types subclass the built-in exception a caller would naturally catch (``ValueError``, ``TypeError``,
``RuntimeError``), so ``except ValueError`` keeps working.
"""


class VeilError(Exception):
    """Base class of every Veil-specific error."""


class UnsupportedOpError(VeilError, ValueError):
    """An ONNX operator that Veil cannot evaluate or quantize."""


class InputValidationError(VeilError, ValueError):
    """Data passed at a public boundary has the wrong shape, dtype, or non-finite values."""


class QuantizationError(VeilError, ValueError):
    """A quantization parameter (bit-width, rounding, scale) is impossible or inconsistent."""


class AccumulatorOverflowError(VeilError, ValueError):
    """An integer accumulator would need more bits than the budget the user asked for."""


class NotCompiledError(VeilError, RuntimeError):
    """An FHE mode ("simulate", "execute") was asked for before ``compile`` was called."""


class EncryptedDataError(VeilError, ValueError):
    """Ciphertexts or evaluation keys that are malformed, or were made for another model or other keys."""


class ModelFileError(VeilError, ValueError):
    """A Veil file that cannot be read: not a Veil file, truncated, altered, or in an unknown format."""


class ServiceError(VeilError, RuntimeError):
    """A ``veil serve`` service answered with an error status; ``status`` and ``detail`` say which and why."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class TokenConfigError(VeilError, ValueError):
    """The API token file or ``VEIL_API_TOKENS`` variable is malformed (``veil serve`` refuses to start)."""


class CapacityWarning(UserWarning):
    """``fit``'s capacity search found no configuration within ``accuracy_tolerance`` of its float
    reference: the encrypted model is less accurate than a float MLP would be on the same data."""
