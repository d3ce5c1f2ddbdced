"""The one place Veil's version is written: pyproject.toml, `veil.__version__`, `veil --version` read it."""

__version__ = "0.1.0"
