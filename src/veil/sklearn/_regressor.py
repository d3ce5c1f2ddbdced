"""NeuralNetRegressor: a quantization-aware MLP regressor that predicts in clear or in FHE."""

from __future__ import annotations

import numpy as np
import skorch
from sklearn.base import MultiOutputMixin, RegressorMixin
from sklearn.neural_network import MLPRegressor
from sklearn.utils.validation import check_array
from torch import nn, optim

from veil.errors import InputValidationError

from ._base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    DEFAULT_MAX_EPOCHS,
    DEFAULT_N_LAYERS,
    DEFAULT_ROUNDING_THRESHOLD_BITS,
    BaseQuantizedNeuralNet,
)
from ._qnn_defaults import (
    DEFAULT_MIN_HIDDEN_NEURONS,
    DEFAULT_N_A_BITS,
    DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
    DEFAULT_N_W_BITS,
)


class NeuralNetRegressor(MultiOutputMixin, RegressorMixin, BaseQuantizedNeuralNet):
    """Fully connected regressor trained with quantization-aware training, predicting in clear or in FHE.

    Same model and parameters as :class:`NeuralNetClassifier`, except: the default criterion is
    ``torch.nn.MSELoss``, there is no ``classes``, and the targets must be floating-point numbers (they are
    cast to float32), one column per output. ``predict`` returns shape (n_samples,) for a single output.

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
    >>> model = NeuralNetRegressor(module__n_layers=2, max_epochs=5, random_state=0).fit(X, y / 100)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _skorch_class = skorch.NeuralNetRegressor
    _file_kind = "neural-net-regressor"
    base_estimator_type = MLPRegressor

    def __init__(
        self,
        *,
        module__n_layers=DEFAULT_N_LAYERS,
        module__n_hidden_neurons_multiplier=DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
        module__n_w_bits=DEFAULT_N_W_BITS,
        module__n_a_bits=DEFAULT_N_A_BITS,
        module__n_accum_bits=None,
        module__n_prune_neurons_percentage=0.0,
        module__activation_function=nn.ReLU,
        module__quant_narrow=False,
        module__quant_signed=True,
        module__power_of_two_scaling=True,
        module__n_accum_bits_output=None,
        module__min_hidden_neurons=DEFAULT_MIN_HIDDEN_NEURONS,
        module__mid_rise_inputs=None,
        criterion=nn.MSELoss,
        optimizer=optim.Adam,
        lr=DEFAULT_LR,
        max_epochs=DEFAULT_MAX_EPOCHS,
        batch_size=DEFAULT_BATCH_SIZE,
        iterator_train__shuffle=True,
        train_split=None,
        callbacks=None,
        verbose=0,
        random_state=None,
        rounding_threshold_bits=DEFAULT_ROUNDING_THRESHOLD_BITS,
        **kwargs,
    ):
        super().__init__(
            module__n_layers=module__n_layers,
            module__n_hidden_neurons_multiplier=module__n_hidden_neurons_multiplier,
            module__n_w_bits=module__n_w_bits,
            module__n_a_bits=module__n_a_bits,
            module__n_accum_bits=module__n_accum_bits,
            module__n_prune_neurons_percentage=module__n_prune_neurons_percentage,
            module__activation_function=module__activation_function,
            module__quant_narrow=module__quant_narrow,
            module__quant_signed=module__quant_signed,
            module__power_of_two_scaling=module__power_of_two_scaling,
            module__n_accum_bits_output=module__n_accum_bits_output,
            module__min_hidden_neurons=module__min_hidden_neurons,
            module__mid_rise_inputs=module__mid_rise_inputs,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train__shuffle=iterator_train__shuffle,
            train_split=train_split,
            callbacks=callbacks,
            verbose=verbose,
            random_state=random_state,
            rounding_threshold_bits=rounding_threshold_bits,
            **kwargs,
        )

    def _check_targets(self, y, reset: bool) -> np.ndarray:
        y = check_array(y, ensure_2d=False, dtype="numeric", input_name="y")
        if not np.issubdtype(y.dtype, np.floating):
            raise InputValidationError(
                f"y must hold floating-point regression targets, got dtype {y.dtype}; cast them with "
                "y.astype(np.float32) (or use NeuralNetClassifier for class labels)"
            )
        if y.ndim > 2:
            raise InputValidationError(
                f"y must have shape (n_samples,) or (n_samples, n_outputs), got {y.shape}"
            )
        # skorch and the torch loss want one column per output, also for a single target.
        return y.astype(np.float32).reshape(len(y), -1)

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
        outputs = self._outputs(X, fhe, execute_in_fhe)
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs
