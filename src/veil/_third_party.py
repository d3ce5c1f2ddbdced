"""Import third-party packages without the warnings they raise about themselves.

concrete-python declares its namespace through ``pkg_resources`` (a deprecation notice from setuptools), and
brevitas reports that the optional CUDA kernel ``fast_hadamard_transform`` is missing, which Veil never uses,
and that its own ``brevitas.fx`` is deprecated.
Neither warning concerns the user's code. Only these messages are hidden, and only while the import runs:
the user's own warning filters are unchanged afterwards.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

# (message regex, category) of the import-time warnings known to say nothing about the user's code.
IMPORT_NOISE = (
    (r"pkg_resources is deprecated as an API", UserWarning),
    (r"Deprecated call to `pkg_resources\.declare_namespace", DeprecationWarning),
    (r"fast_hadamard_transform package not found", UserWarning),
    (r"brevitas\.fx is deprecated", DeprecationWarning),  # brevitas.export imports it itself
)


def import_quietly(name: str) -> ModuleType:
    """Import the module ``name`` with the warnings listed in ``IMPORT_NOISE`` hidden."""
    with warnings.catch_warnings():
        for message, category in IMPORT_NOISE:
            warnings.filterwarnings("ignore", message=message, category=category)
        return importlib.import_module(name)
