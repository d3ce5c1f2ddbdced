"""Prediction, compilation and the float benchmark twin of a fitted estimator's integer model."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from veil._warnings import user_stacklevel
from veil.errors import NotCompiledError
from veil.fhe import DEFAULT_GLOBAL_P_ERROR, DEFAULT_P_ERROR
from veil.quantization import check_fhe_mode

_MLP_ACTIVATIONS = {
    torch.nn.ReLU: "relu",
    torch.nn.Tanh: "tanh",
    torch.nn.Sigmoid: "logistic",
    torch.nn.Identity: "identity",
}


class PredictionMixin:
    """Runs a fitted estimator's ``quantized_module_`` in clear, in simulation or encrypted."""

    def _outputs(self, X, fhe, execute_in_fhe) -> np.ndarray:
        """Float outputs of the integer model (logits for a classifier) on ``X``.

        ``X`` is validated here, the public boundary, and trusted below; the rows go through the module's
        one prediction path (:meth:`QuantizedModule.forward`), which shows the progress of FHE runs.
        """
        check_is_fitted(self)
        mode = _fhe_mode(fhe, execute_in_fhe)
        module = self.quantized_module_
        if mode != "disable" and module.fhe_circuit is None:
            raise NotCompiledError(
                f"{type(self).__name__} is not compiled: call compile(X_train) before predicting with "
                f"fhe={mode!r}"
            )
        return module.forward(self._check_inputs(X, reset=False), fhe=mode, check_input=False)

    def compile(
        self,
        X,
        p_error: float | None = DEFAULT_P_ERROR,
        global_p_error: float | None = DEFAULT_GLOBAL_P_ERROR,
        verbose: bool = False,
    ):
        """Compile the integer model to an FHE circuit, for ``predict(..., fhe="simulate" | "execute")``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Representative inputs (the training set, typically) to trace the circuit.
        p_error, global_p_error : float or None
            Failure probability of one table lookup, or of a whole circuit evaluation.
        verbose : bool
            Print the compiled MLIR.

        Returns
        -------
        veil.fhe.FheCircuit
            The compiled circuit, also available as :attr:`fhe_circuit`.
        """
        check_is_fitted(self)
        X = self._check_inputs(X, reset=False)
        return self.quantized_module_.compile(
            X, p_error=p_error, global_p_error=global_p_error, verbose=verbose, check_input=False
        )

    @property
    def onnx_model(self):
        """The exported ONNX model of the trained network, or None before fit."""
        return self.quantized_module_.onnx_model if self.__sklearn_is_fitted__() else None

    @property
    def fhe_circuit(self):
        """The compiled FHE circuit, or None before :meth:`compile`."""
        return self.quantized_module_.fhe_circuit if self.__sklearn_is_fitted__() else None

    @property
    def input_quantizers(self) -> list:
        """How the input is quantized (one ``UniformQuantizer``)."""
        check_is_fitted(self)
        return self.quantized_module_.input_quantizers

    @property
    def output_quantizers(self) -> list:
        """How the integer output is dequantized (one ``UniformQuantizer``)."""
        check_is_fitted(self)
        return self.quantized_module_.output_quantizers

    def get_sklearn_params(self, deep: bool = True) -> dict:
        """Parameters of the float scikit-learn MLP with this network's widths, depth and training setup.

        ``deep`` is accepted for compatibility and unused. The hidden width depends on the number of
        features, known once fitted.
        """
        check_is_fitted(self)
        module = self.base_module_to_compile
        return {
            "hidden_layer_sizes": (module.n_hidden_neurons,) * (module.n_layers - 1),
            "activation": _MLP_ACTIVATIONS.get(self.module__activation_function, "relu"),
            "solver": "sgd" if self.optimizer is torch.optim.SGD else "adam",
            "alpha": float(getattr(self, "optimizer__weight_decay", 0.0)),
            "learning_rate_init": self.lr,
            "max_iter": self.max_epochs,
            "batch_size": self.training_plan_["batch_size"],
            "shuffle": self.iterator_train__shuffle,
            "random_state": self.random_state,
        }

    def fit_benchmark(self, X, y, *args, **kwargs) -> tuple:
        """Fit this model and the equivalent float scikit-learn MLP (:attr:`base_estimator_type`) on ``X, y``.

        Returns
        -------
        (self, mlp)
            This fitted model and the fitted float MLP, to compare their scores.
        """
        self.fit(X, y, *args, **kwargs)
        mlp = self.base_estimator_type(**self.get_sklearn_params()).fit(X, y)
        return self, mlp


def _fhe_mode(fhe, execute_in_fhe) -> str:
    if isinstance(fhe, bool):  # predict(X, True): the older positional execute_in_fhe
        fhe, execute_in_fhe = "disable", fhe
    if execute_in_fhe is not None:
        warnings.warn(
            "execute_in_fhe is deprecated: use fhe='execute' (or fhe='disable')",
            DeprecationWarning,
            stacklevel=user_stacklevel(),
        )
        if fhe != "disable":
            raise ValueError(f"give fhe or execute_in_fhe, not both (got fhe={fhe!r})")
        return "execute" if execute_in_fhe else "disable"
    return check_fhe_mode(fhe)
