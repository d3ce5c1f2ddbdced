"""NeuralNetRegressor: a quantization-aware MLP regressor that predicts in clear or in FHE."""

from __future__ import annotations

import numpy as np
import skorch
from sklearn.base import MultiOutputMixin, RegressorMixin
from sklearn.neural_network import MLPRegressor
from sklearn.utils.validation import check_array
from torch import nn

from veil.errors import InputValidationError
from veil.quantization import regression_values

from ._base import BaseQuantizedNeuralNet


class NeuralNetRegressor(MultiOutputMixin, RegressorMixin, BaseQuantizedNeuralNet):
    """Fully connected regressor trained with quantization-aware training, predicting in clear or in FHE.

    Same model and parameters as :class:`NeuralNetClassifier`, except: ``criterion=None`` means
    ``torch.nn.MSELoss``, there is no ``classes``, the capacity search compares R² scores, and the targets
    are numbers (integers are cast to float32, as scikit-learn's ``MLPRegressor`` does), one column per
    output. The network trains on targets standardized with their training mean and standard deviation
    and maps its outputs back on the client, so targets need no scaling either. ``predict`` returns shape
    (n_samples,) for a single output.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when ``X`` was a DataFrame with string column names.
    n_outputs_ : int
        Number of regression targets.
    skorch_net_ : skorch.NeuralNetRegressor
        The trained skorch network.
    quantized_module_ : veil.quantization.QuantizedModule
        The integer model used for prediction.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(n_samples=100, n_features=4, random_state=0)
    >>> model = NeuralNetRegressor(module__n_accum_bits=5, max_epochs=5, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _skorch_class = skorch.NeuralNetRegressor
    _default_criterion = nn.MSELoss
    _file_kind = "neural-net-regressor"
    base_estimator_type = MLPRegressor

    def _check_targets(self, y, reset: bool) -> np.ndarray:
        y = check_array(y, ensure_2d=False, dtype="numeric", input_name="y")
        if y.ndim > 2:
            raise InputValidationError(
                f"y must have shape (n_samples,) or (n_samples, n_outputs), got {y.shape}"
            )
        # skorch and the torch loss want one column per output, also for a single target.
        return y.astype(np.float32).reshape(len(y), -1)

    def _target_scaling(self, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each target's training mean and standard deviation (1 for a constant target)."""
        spread = y_train.std(axis=0)
        return y_train.mean(axis=0), np.where(spread > 0, spread, 1.0).astype(np.float32)

    def _n_outputs(self, y_train: np.ndarray) -> int:
        return y_train.shape[1]

    def predict(self, X, fhe: str = "disable", *, execute_in_fhe: bool | None = None) -> np.ndarray:
        """Predicted targets, of shape (n_samples,) for one output or (n_samples, n_outputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        fhe : {"disable", "simulate", "execute"}, default="disable"
            Run the integer model in clear, in FHE simulation, or encrypted (one row at a time, with a
            progress bar). The last two need :meth:`compile` first.
        execute_in_fhe : bool, optional
            Deprecated: ``True`` means ``fhe="execute"``.
        """
        return regression_values(self._outputs(X, fhe, execute_in_fhe))
