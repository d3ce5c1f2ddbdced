"""What Veil's two neural-network estimators share: training with skorch, export, prediction in FHE.

The estimator is a plain scikit-learn estimator that *holds* a skorch network (composition): ``fit`` builds
a fresh ``skorch.NeuralNetClassifier`` / ``NeuralNetRegressor`` around :class:`SparseQuantNeuralNetwork` from
the estimator's parameters, trains it, lets the torch module finalize itself (permanent pruning, accumulator
check), exports it to ONNX and imports its quantizers into a :class:`~veil.quantization.QuantizedModule`.
Prediction runs that integer model, in clear or in FHE; the torch network is kept for ``infer``, ``prune`` and
``history``.

Parameters follow skorch's naming: ``module__*`` go to the torch module, ``criterion__*``, ``optimizer__*``,
``iterator_train__*``... to the matching skorch component.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm import tqdm

from veil._serialization import write_file
from veil.errors import InputValidationError, NotCompiledError
from veil.fhe import DEFAULT_GLOBAL_P_ERROR, DEFAULT_P_ERROR
from veil.quantization import check_fhe_mode
from veil.torch import build_quantized_module, torch_to_onnx

from ._budget_schedule import GradualAccumulatorBudget
from ._files import estimator_to_content
from ._lr_decay import LEARNED_SCALES_PATTERN, LateCosineDecay
from ._qnn_defaults import DEFAULT_N_LAYERS as SPARSE_QNN_DEFAULT_N_LAYERS
from ._qnn_module import SparseQuantNeuralNetwork
from ._torch_state import NetSnapshot, load_trained_weights, one_torch_thread, seeded_torch

# Training defaults, in one place (the reference documents lr=0.001, max_epochs=10, batch size 64, Adam).
# Measured with max_epochs=50, two seeds, on iris, wine, breast-cancer, digits and moons: mean test accuracy
# 0.948 at batch 64 / lr 0.01, 0.960 at 32 / 0.01, 0.966 at 16 / 0.005 (lr 0.001 trailed at 0.81). Smaller
# batches mean more steps of quantization-aware training, which the 2-bit weights need. At the reference's
# 10 epochs the same network scored 83.0 / 94.2 / 86.8 / 90.9 / 94.1% on breast-cancer / digits / iris /
# moons / wine (seeds 0-2), against 95.1 / 96.7 / 97.4 / 97.6 / 100% at 50 (its float MLP: 95.8 / 97.3 /
# 98.2 / 97.5 / 100%; benchmarks/explorations/2026-11-23-training-schedule). A small data set spends its
# first 10 epochs inside Brevitas' 300-step statistics phase, before any scale is learned.
DEFAULT_N_LAYERS = SPARSE_QNN_DEFAULT_N_LAYERS
DEFAULT_LR = 5e-3
DEFAULT_MAX_EPOCHS = 50
DEFAULT_BATCH_SIZE = 16
# Accumulators are rounded exactly to this many bits before their table lookup (None: no rounding).
DEFAULT_ROUNDING_THRESHOLD_BITS = None


#: The torch module's parameters that the estimators expose as explicit ``module__<name>`` parameters.
MODULE_PARAMS = (
    "n_layers",
    "n_hidden_neurons_multiplier",
    "n_w_bits",
    "n_a_bits",
    "n_accum_bits",
    "n_prune_neurons_percentage",
    "activation_function",
    "quant_narrow",
    "quant_signed",
    "power_of_two_scaling",
    "n_accum_bits_output",
    "min_hidden_neurons",
    "mid_rise_inputs",
)
#: skorch components that take keyword arguments as ``<prefix>__<name>``, e.g. ``optimizer__weight_decay``.
SKORCH_PREFIXES = (
    "module",
    "criterion",
    "optimizer",
    "iterator_train",
    "iterator_valid",
    "dataset",
    "callbacks",
)
#: Module arguments that come from the data, never from the user.
INFERRED_MODULE_PARAMS = ("module__input_dim", "module__n_outputs")

# Bits where the network has no quantizer of its own: unused by SparseQuantNeuralNetwork, which quantizes
# its input and every activation, and leaves only the last layer's float bias.
_N_BITS_WITHOUT_QUANTIZER = 8


class BaseQuantizedNeuralNet(BaseEstimator):
    """Shared base of :class:`NeuralNetClassifier` and :class:`NeuralNetRegressor`; not for direct use.

    Subclasses set ``_skorch_class`` and ``base_estimator_type`` and implement ``_check_targets`` and
    ``_n_outputs``.
    """

    _skorch_class: type
    _file_kind: str

    def __init__(
        self,
        *,
        module__n_layers,
        module__n_hidden_neurons_multiplier,
        module__n_w_bits,
        module__n_a_bits,
        module__n_accum_bits,
        module__n_prune_neurons_percentage,
        module__activation_function,
        module__quant_narrow,
        module__quant_signed,
        module__power_of_two_scaling,
        module__n_accum_bits_output,
        module__min_hidden_neurons,
        module__mid_rise_inputs,
        criterion,
        optimizer,
        lr,
        max_epochs,
        batch_size,
        iterator_train__shuffle,
        train_split,
        callbacks,
        verbose,
        random_state,
        rounding_threshold_bits,
        **kwargs,
    ):
        self.module__n_layers = module__n_layers
        self.module__n_hidden_neurons_multiplier = module__n_hidden_neurons_multiplier
        self.module__n_w_bits = module__n_w_bits
        self.module__n_a_bits = module__n_a_bits
        self.module__n_accum_bits = module__n_accum_bits
        self.module__n_prune_neurons_percentage = module__n_prune_neurons_percentage
        self.module__activation_function = module__activation_function
        self.module__quant_narrow = module__quant_narrow
        self.module__quant_signed = module__quant_signed
        self.module__power_of_two_scaling = module__power_of_two_scaling
        self.module__n_accum_bits_output = module__n_accum_bits_output
        self.module__min_hidden_neurons = module__min_hidden_neurons
        self.module__mid_rise_inputs = module__mid_rise_inputs
        self.criterion = criterion
        self.optimizer = optimizer
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.iterator_train__shuffle = iterator_train__shuffle
        self.train_split = train_split
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state
        self.rounding_threshold_bits = rounding_threshold_bits
        # Further skorch parameters (``optimizer__weight_decay``...), stored like the explicit ones; their
        # names are checked at fit and by set_params.
        vars(self).update(kwargs)

    # -- parameters ----------------------------------------------------------------------------------------
    def _routed_params(self) -> dict:
        """The parameters given beyond the explicit ones, e.g. ``{"criterion__weight": ...}``.

        Public attributes are parameters, fitted state ends with ``_`` (scikit-learn's convention).
        """
        explicit = set(self._get_param_names())
        return {
            name: value
            for name, value in vars(self).items()
            if not name.startswith("_") and not name.endswith("_") and name not in explicit
        }

    def get_params(self, deep: bool = True) -> dict:
        """Parameters of this estimator: the constructor's and any routed skorch parameter that was given."""
        return {**super().get_params(deep=deep), **self._routed_params()}

    def set_params(self, **params):
        """Set parameters, ``module__*`` and other routed skorch parameters included; returns ``self``."""
        explicit = set(self._get_param_names())
        for name, value in params.items():
            if name not in explicit:
                self._check_routed_name(name)
            setattr(self, name, value)
        return self

    def _check_routed_name(self, name: str) -> None:
        prefix, separator, rest = name.partition("__")
        if name in INFERRED_MODULE_PARAMS:
            raise ValueError(f"{name} is inferred from the training data at fit; do not set it")
        if not separator or prefix not in SKORCH_PREFIXES or not rest:
            routed = ", ".join(f"{p}__*" for p in SKORCH_PREFIXES)
            raise ValueError(
                f"Invalid parameter {name!r} for {type(self).__name__}. Valid parameters are "
                f"{sorted(self._get_param_names())} and skorch parameters routed by prefix ({routed})."
            )

    # -- training ------------------------------------------------------------------------------------------
    def fit(self, X, y, **fit_params):
        """Train the quantization-aware network on ``X, y`` and build its integer model.

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)
            Training inputs; numbers only, converted to float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or float targets (regressor).
        **fit_params
            Passed to skorch's ``partial_fit`` (and from there to the module's ``forward``).

        Returns
        -------
        self
        """
        X, y_train, n_outputs = self._check_training_data(X, y, reset=True)
        net = self._new_skorch_net(n_outputs)
        with seeded_torch(self.random_state), one_torch_thread():
            net.initialize()
            self._train(net, X, y_train, **fit_params)
        self._build_integer_model(net, X)
        return self

    def _check_training_data(self, X, y, reset: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """Validate ``X, y``; with ``reset``, learn the feature count and target encoding, else check them."""
        for name in self._routed_params():
            self._check_routed_name(name)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X = self._check_inputs(X, reset=reset)
        y_train = self._check_targets(y, reset=reset)
        if len(y_train) != len(X):
            raise InputValidationError(
                f"X and y must have the same number of rows, got {len(X)} and {len(y_train)}"
            )
        n_outputs = self._n_outputs(y_train)
        if reset:
            self.n_outputs_ = n_outputs
        elif n_outputs != self.n_outputs_:
            raise InputValidationError(f"y must have {self.n_outputs_} outputs, as at fit, got {n_outputs}")
        return X, y_train, n_outputs

    def _check_targets(self, y, reset: bool) -> np.ndarray:
        """Validated training targets; with ``reset``, learn the target encoding (e.g. ``classes_``)."""
        raise NotImplementedError

    def _n_outputs(self, y_train: np.ndarray) -> int:
        """Number of network outputs for these training targets."""
        raise NotImplementedError

    def _new_skorch_net(self, n_outputs: int):
        routed = self._routed_params()
        weight = routed.get("criterion__weight")
        if weight is not None and not isinstance(weight, torch.Tensor):
            routed["criterion__weight"] = torch.as_tensor(np.asarray(weight, dtype=np.float32))
        # The quantizers' learned scales in a group of their own, on their own schedule (LateCosineDecay).
        routed.setdefault("optimizer__param_groups", [(LEARNED_SCALES_PATTERN, {})])
        module_params = {f"module__{name}": getattr(self, f"module__{name}") for name in MODULE_PARAMS}
        return self._skorch_class(
            module=SparseQuantNeuralNetwork,
            module__input_dim=self.n_features_in_,
            module__n_outputs=n_outputs,
            **module_params,
            criterion=self.criterion,
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=self.iterator_train__shuffle,
            train_split=self.train_split,
            callbacks=self._training_callbacks(),
            verbose=self.verbose,
            **routed,
        )

    def _training_callbacks(self):
        """The user's callbacks after Veil's own: ``accumulator_budget`` (gradual pruning) and ``lr_decay``.

        ``callbacks="disable"`` is skorch's switch for no callbacks at all, these included.
        """
        if isinstance(self.callbacks, str) and self.callbacks == "disable":
            return self.callbacks
        return [
            ("accumulator_budget", GradualAccumulatorBudget()),
            ("lr_decay", LateCosineDecay()),
            *(self.callbacks or []),
        ]

    def _train(self, net, X: np.ndarray, y_train: np.ndarray, **fit_params) -> None:
        net.partial_fit(X, y_train, **fit_params)
        self.on_train_end(net, X, y_train)

    def on_train_end(self, net=None, X=None, y=None, **kwargs) -> None:
        """Finalize the trained torch module: make its pruning permanent and check its accumulators.

        Called once skorch has finished training, with ``net`` the skorch network just trained (by default,
        the fitted one).

        Raises
        ------
        veil.errors.AccumulatorOverflowError
            A layer's worst-case integer accumulator exceeds ``module__n_accum_bits``.
        """
        module = (net if net is not None else self.skorch_net_).module_
        module.on_train_end()

    def _build_integer_model(self, net, X: np.ndarray) -> None:
        module = net.module_.eval()  # training is over: the quantizers must stop updating their statistics
        onnx_model = torch_to_onnx(module, X[:1])
        self.skorch_net_ = net
        self.quantized_module_ = build_quantized_module(
            onnx_model,
            X,
            n_bits=_N_BITS_WITHOUT_QUANTIZER,
            rounding_threshold_bits=self.rounding_threshold_bits,
            import_qat=True,
        )

    def prune(self, X, y, n_prune_neurons_percentage: float, **fit_params):
        """Return a fine-tuned copy of this trained model with a share of its hidden neurons pruned.

        The neurons with the smallest weights (L2 norm) are removed, then the copy trains for ``max_epochs``
        more epochs from this model's weights. Use it once a wide model (high
        ``module__n_hidden_neurons_multiplier``) is accurate, to make it faster in FHE: half the neurons can
        often go without losing accuracy.

        Parameters
        ----------
        X, y : array-like
            Training data, as for :meth:`fit`.
        n_prune_neurons_percentage : float in (0, 1)
            Share of each hidden layer's neurons to remove.
        **fit_params
            Passed to skorch's ``partial_fit``.

        Returns
        -------
        estimator
            A new, fitted, pruned estimator; this one is unchanged.

        Raises
        ------
        ValueError
            This model is not fitted or is already pruned, or ``n_prune_neurons_percentage`` is out of range.
        """
        check_is_fitted(self)
        if self.module__n_prune_neurons_percentage > 0:
            raise ValueError(
                f"this model is already pruned (module__n_prune_neurons_percentage="
                f"{self.module__n_prune_neurons_percentage}); prune the original model instead"
            )
        if not isinstance(n_prune_neurons_percentage, numbers.Real) or not 0 < n_prune_neurons_percentage < 1:
            raise ValueError(
                f"n_prune_neurons_percentage must be in (0, 1), got {n_prune_neurons_percentage!r}"
            )

        # A copy of the fitted model keeps its feature and target encoding to check the new data against.
        pruned = copy.deepcopy(self).set_params(module__n_prune_neurons_percentage=n_prune_neurons_percentage)
        X, y_train, n_outputs = pruned._check_training_data(X, y, reset=False)
        net = pruned._new_skorch_net(n_outputs)
        with seeded_torch(self.random_state), one_torch_thread():
            net.initialize()
            load_trained_weights(net, self.base_module_to_compile.state_dict())
            # Neuron masks are chosen from the trained weights, not from the new network's random ones.
            net.module_.enable_pruning()
            net.initialize_optimizer()
            pruned._train(net, X, y_train, **fit_params)
        pruned._build_integer_model(net, X)
        return pruned

    # -- prediction ----------------------------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "quantized_module_")

    def _check_inputs(self, X, reset: bool) -> np.ndarray:
        """The one input gate: numbers only, 2-D, finite, the fitted number of features; float32 out."""
        if getattr(X, "ndim", None) == 1:
            raise InputValidationError(
                f"X must be 2-D of shape (n_samples, n_features), got a 1-D array of shape {X.shape}. "
                "Reshape your data with X.reshape(-1, 1) if it holds one feature, or X.reshape(1, -1) if it "
                "holds one sample"
            )
        try:
            return validate_data(self, X, reset=reset, dtype=np.float32)
        except ValueError as error:
            if "could not convert string to float" not in str(error):
                raise
            raise InputValidationError(
                "X must contain numbers only; encode text or categorical features first (e.g. with "
                f"sklearn.preprocessing.OneHotEncoder): {error}"
            ) from error

    def _outputs(self, X, fhe, execute_in_fhe) -> np.ndarray:
        """Float outputs of the integer model (logits for a classifier) on ``X``."""
        check_is_fitted(self)
        mode = _fhe_mode(fhe, execute_in_fhe)
        module = self.quantized_module_
        if mode != "disable" and module.fhe_circuit is None:
            raise NotCompiledError(
                f"{type(self).__name__} is not compiled: call compile(X_train) before predicting with "
                f"fhe={mode!r}"
            )
        q_x = module.quantize_input(self._check_inputs(X, reset=False))
        if mode == "execute":
            rows = tqdm(range(len(q_x)), desc="FHE execution", unit="row", disable=len(q_x) < 2)
            q_y = np.concatenate([module.quantized_forward(q_x[i : i + 1], fhe="execute") for i in rows])
        else:
            q_y = module.quantized_forward(q_x, fhe=mode)
        return module.dequantize_output(q_y)

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
            X, p_error=p_error, global_p_error=global_p_error, verbose=verbose
        )

    def infer(self, x, **fit_params) -> torch.Tensor:
        """Run the trained torch network (fake-quantized floats, not the integer model) on one batch.

        ``x`` is a float32 tensor or array of shape (n_samples, n_features); ``fit_params`` go to the module's
        ``forward``. Returns the module's output tensor.
        """
        check_is_fitted(self)
        return self.skorch_net_.infer(x, **fit_params)

    # -- benchmark -----------------------------------------------------------------------------------------
    def get_sklearn_params(self, deep: bool = True) -> dict:
        """Parameters of the float scikit-learn MLP with this network's widths, depth and training setup.

        ``deep`` is accepted for compatibility and unused. The hidden width depends on the number of
        features, known once fitted.
        """
        check_is_fitted(self)
        width = self.base_module_to_compile.n_hidden_neurons
        return {
            "hidden_layer_sizes": (width,) * (self.module__n_layers - 1),
            "activation": _MLP_ACTIVATIONS.get(self.module__activation_function, "relu"),
            "solver": "sgd" if self.optimizer is torch.optim.SGD else "adam",
            "alpha": float(getattr(self, "optimizer__weight_decay", 0.0)),
            "learning_rate_init": self.lr,
            "max_iter": self.max_epochs,
            "batch_size": self.batch_size,
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

    # -- fitted state --------------------------------------------------------------------------------------
    @property
    def history(self):
        """skorch's training history: one dict per epoch (``train_loss``, ``dur``...)."""
        check_is_fitted(self)
        return self.skorch_net_.history

    @property
    def base_module_to_compile(self) -> SparseQuantNeuralNetwork:
        """The trained torch module that was exported and quantized."""
        check_is_fitted(self)
        return self.skorch_net_.module_

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

    @property
    def n_bits_quant(self) -> int:
        """Bit-width of the quantized inputs and activations (``n_a_bits`` of the trained module)."""
        return self.base_module_to_compile.n_a_bits

    # -- files -------------------------------------------------------------------------------------------
    def dump(self, file) -> None:
        """Write this estimator to ``file`` (a path or a binary file object) in Veil's pickle-free format.

        Parameters, fitted attributes, the trained torch weights and the integer model are written; the
        compiled circuit is not: after :func:`veil.load`, call :meth:`compile` again (no retraining).
        Read it back with :func:`veil.load`.
        """
        write_file(file, self._file_kind, estimator_to_content(self))

    # -- pickling ------------------------------------------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ returns the live __dict__
        if "skorch_net_" in state:
            # Brevitas layers do not pickle: keep the network as its parameters and weights.
            state["skorch_net_"] = NetSnapshot.take(state["skorch_net_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("skorch_net_"), NetSnapshot):
            state["skorch_net_"] = state["skorch_net_"].restore()
        super().__setstate__(state)


_MLP_ACTIVATIONS = {
    torch.nn.ReLU: "relu",
    torch.nn.Tanh: "tanh",
    torch.nn.Sigmoid: "logistic",
    torch.nn.Identity: "identity",
}


def _fhe_mode(fhe, execute_in_fhe) -> str:
    if isinstance(fhe, bool):  # predict(X, True): the older positional execute_in_fhe
        fhe, execute_in_fhe = "disable", fhe
    if execute_in_fhe is not None:
        warnings.warn(
            "execute_in_fhe is deprecated: use fhe='execute' (or fhe='disable')",
            DeprecationWarning,
            stacklevel=4,
        )
        if fhe != "disable":
            raise ValueError(f"give fhe or execute_in_fhe, not both (got fhe={fhe!r})")
        return "execute" if execute_in_fhe else "disable"
    return check_fhe_mode(fhe)
