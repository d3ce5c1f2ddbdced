"""Veil: machine learning on encrypted data."""

from ._logging import show_logs
from ._progress import set_progress
from ._serialization import read_file
from ._version import __version__
from .errors import CapacityWarning, ModelFileError

__all__ = ["CapacityWarning", "ModelFileError", "__version__", "load", "set_progress", "show_logs"]

_KINDS = ("quantized-module", "neural-net-classifier", "neural-net-regressor")


def load(file):
    """Read a model written by ``dump``: a fitted estimator or a :class:`~veil.quantization.QuantizedModule`.

    Veil files hold JSON and raw numeric arrays only, so loading one never runs code from the file. A
    file that is truncated, altered or written by another Veil version raises :class:`ModelFileError`.
    The model comes back uncompiled: call its ``compile`` before predicting with ``fhe="simulate"`` or
    ``"execute"``.

    Parameters
    ----------
    file : str, pathlib.Path or binary file object

    Returns
    -------
    NeuralNetClassifier, NeuralNetRegressor or QuantizedModule
    """
    kind, content = read_file(file, _KINDS)
    if kind == "quantized-module":
        from .quantization import QuantizedModule

        return QuantizedModule.from_content(content)
    from .sklearn import NeuralNetClassifier, NeuralNetRegressor
    from .sklearn._files import estimator_from_content

    cls = NeuralNetClassifier if kind == "neural-net-classifier" else NeuralNetRegressor
    return estimator_from_content(cls, content)
