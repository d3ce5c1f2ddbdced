"""The only door to concrete-python: compile an integer function, simulate, encrypt, run, decrypt.

Nothing else in Veil imports ``concrete``. The integer forward functions that Veil builds call
:func:`round_bit_pattern` and :func:`hint_bit_width` from here; both work on plain numpy arrays
(clear evaluation) and on concrete's tracers (compilation).
"""

from .. import _concrete_guard  # noqa: F401 - first: imports concrete quietly, keeps scripts' exit status
from ._circuit import (
    DEFAULT_GLOBAL_P_ERROR,
    DEFAULT_P_ERROR,
    CircuitStatistics,
    FheCircuit,
    compile_integer_function,
)
from ._deployment import FheClient, FheServer
from ._primitives import hint_bit_width, round_bit_pattern, table_lookup

__all__ = [
    "DEFAULT_GLOBAL_P_ERROR",
    "DEFAULT_P_ERROR",
    "CircuitStatistics",
    "FheCircuit",
    "FheClient",
    "FheServer",
    "compile_integer_function",
    "hint_bit_width",
    "round_bit_pattern",
    "table_lookup",
]
