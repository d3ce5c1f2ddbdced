"""What Veil's two neural-network estimators share: parameters, training with skorch, the integer model.

The estimator is a plain scikit-learn estimator that *holds* a skorch network (composition). ``fit``
checks the parameters once (``_params.ESTIMATOR_CONSTRAINTS``), resolves what depends on the data (input
normalization, batch size, and the capacity the data needs, ``_capacity``), trains the quantization-aware
network, lets it finalize itself (permanent pruning, accumulator check), exports it to ONNX and imports
its quantizers into a :class:`~veil.quantization.QuantizedModule`. Prediction runs that integer model.

Parameters follow skorch's naming: ``module__*`` go to the torch module, ``criterion__*``,
``optimizer__*``, ``iterator_train__*``... to the matching skorch component.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn, optim

from veil._serialization import write_file
from veil.errors import InputValidationError
from veil.qat._defaults import (
    DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
)
from veil.torch import build_quantized_module, torch_to_onnx

from ._capacity import CapacityReport, search_capacity
from ._files import estimator_to_content
from ._latency_check import checks_compiled_latency, keep_within_budget, training_loss
from ._params import ESTIMATOR_CONSTRAINTS, TrainingPlan, client_normalization, resolve_training
from ._prediction import PredictionMixin
from ._torch_state import NetSnapshot, load_trained_weights, one_torch_thread, seeded_torch
from ._training import new_quantized_net, see_rounding, train

# Training defaults (measurements: docs/decisions/learning-rate-batch-epochs.md).
DEFAULT_LR = 5e-3
DEFAULT_MAX_EPOCHS = 50
#: Skorch components that take keyword arguments as ``<prefix>__<name>``, e.g. ``optimizer__weight_decay``.
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


class BaseQuantizedNeuralNet(PredictionMixin, BaseEstimator):
    """Shared base of :class:`NeuralNetClassifier` and :class:`NeuralNetRegressor`; not for direct use.

    Subclasses set ``_skorch_class``, ``_default_criterion``, ``_file_kind`` and ``base_estimator_type``
    and implement ``_check_targets``, ``_n_outputs`` and ``_target_scaling``. The parameters are documented
    on the subclasses.
    """

    _skorch_class: type
    _default_criterion: type
    _file_kind: str
    _parameter_constraints = ESTIMATOR_CONSTRAINTS

    def __init__(
        self,
        *,
        module__n_layers=None,
        module__n_hidden_neurons_multiplier=DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
        module__n_w_bits=None,
        module__n_a_bits=None,
        module__n_accum_bits=None,
        module__n_prune_neurons_percentage=0.0,
        module__activation_function=nn.ReLU,
        module__quant_narrow=False,
        module__quant_signed=True,
        module__power_of_two_scaling=True,
        module__n_accum_bits_output=None,
        module__min_hidden_neurons=None,
        module__max_hidden_neurons=None,
        module__mid_rise_inputs=None,
        module__output_partial_sums=True,
        module__input_range=None,
        module__folded_inputs=None,
        criterion=None,
        optimizer=optim.Adam,
        lr=DEFAULT_LR,
        max_epochs=DEFAULT_MAX_EPOCHS,
        batch_size=None,
        iterator_train__shuffle=True,
        train_split=None,
        callbacks=None,
        verbose=0,
        random_state=None,
        rounding_threshold_bits=None,
        accuracy_tolerance=0.01,
        latency_budget=3.0,
        input_normalization="robust",
        n_jobs=None,
        **kwargs,
    ):
        # scikit-learn's contract: store the arguments as given, nothing else. Routed skorch parameters
        # (``optimizer__weight_decay``...) are stored the same way; their names are checked at fit.
        arguments = {name: value for name, value in locals().items() if name not in ("self", "kwargs")}
        vars(self).update({**arguments, **kwargs})

    # -- parameters ----------------------------------------------------------------------------------------
    @classmethod
    def _module_param_names(cls) -> list[str]:
        """The network's parameters exposed as ``module__<name>``, from the constructor's signature."""
        return [
            name.removeprefix("module__") for name in cls._get_param_names() if name.startswith("module__")
        ]

    def _routed_params(self) -> dict:
        """The parameters given beyond the explicit ones, e.g. ``{"criterion__weight": ...}``."""
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

    def _criterion(self) -> type:
        return self._default_criterion if self.criterion is None else self.criterion

    def _module_params(self, chosen: dict) -> dict:
        """The network's arguments: the user's ``module__*`` values, ``chosen`` filling the ``None`` ones."""
        params = {name: getattr(self, f"module__{name}") for name in self._module_param_names()}
        params.update(
            {name: value for name, value in chosen.items() if name in params and params[name] is None}
        )
        return params

    # -- training ------------------------------------------------------------------------------------------
    def fit(self, X, y, **fit_params):
        """Train the quantization-aware network on ``X, y`` and build its integer model.

        Parameters
        ----------
        X : array-like or pandas DataFrame of shape (n_samples, n_features)
            Training inputs; numbers only, converted to float32. Features need no scaling: each is
            normalized by robust statistics of ``X`` (``input_normalization``) on the client side.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or targets (regressor).
        **fit_params
            Passed to skorch's ``partial_fit`` (and from there to the module's ``forward``).

        Returns
        -------
        self
        """
        self._validate_params()
        X, y_train, n_outputs = self._check_training_data(X, y, reset=True)
        target_scaling = self._target_scaling(y_train)
        y_fit = y_train if target_scaling is None else (y_train - target_scaling[0]) / target_scaling[1]
        plan = resolve_training(self.batch_size, self.max_epochs, len(X))
        normalization = client_normalization(X, self.input_normalization)
        with seeded_torch(self.random_state), one_torch_thread():
            report, net = search_capacity(self, X, y_fit, n_outputs, plan, normalization, **fit_params)
            if net is None:  # nothing searched: one configuration, trained on every row
                net = new_quantized_net(self, n_outputs, self._module_params(report.chosen), plan)
                rounding = self._rounding_threshold_bits(report.chosen)
                train(net, X, y_fit, normalization, rounding, **fit_params)
                self.on_train_end(net, X, y_fit)
        if target_scaling is not None:
            net.module_.set_output_scaling(*target_scaling)
        self.capacity_ = report.to_dict()
        self.training_plan_ = plan.to_dict()
        self._build_integer_model(net, X)
        if checks_compiled_latency(self, report):
            self.quantized_module_, report.latency_check = keep_within_budget(
                self.quantized_module_, X, y_train, self.latency_budget, training_loss(self)
            )
            self.capacity_ = report.to_dict()
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

    def _check_targets(self, y, reset: bool) -> np.ndarray:
        """Validated training targets; with ``reset``, learn the target encoding (e.g. ``classes_``)."""
        raise NotImplementedError

    def _n_outputs(self, y_train: np.ndarray) -> int:
        """Number of network outputs for these training targets."""
        raise NotImplementedError

    def _target_scaling(self, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(offset, scale)`` the network trains the targets at, or None to train them as they are."""
        raise NotImplementedError

    def on_train_end(self, net=None, X=None, y=None, **kwargs) -> None:
        """Finalize the trained torch module: make its pruning permanent and check its accumulators.

        Called once skorch has finished training, with ``net`` the skorch network just trained (by default,
        the fitted one).

        Raises
        ------
        veil.errors.AccumulatorOverflowError
            A layer's worst-case integer accumulator exceeds its budget.
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
            n_bits=module.n_a_bits,  # unused: the network quantizes its input and every activation itself
            rounding_threshold_bits=self._rounding_threshold_bits(),
            import_qat=True,
        )

    def _rounding_threshold_bits(self, chosen: dict | None = None):
        """The user's ``rounding_threshold_bits``, else ``chosen``'s (by default the chosen candidate's;
        None: no rounding)."""
        if self.rounding_threshold_bits is not None:
            return self.rounding_threshold_bits
        return (self.capacity_["chosen"] if chosen is None else chosen).get("rounding_threshold_bits")

    def _new_fitted_net(self):
        """A fresh, uninitialized skorch network with the fitted configuration (to load weights into)."""
        plan = TrainingPlan(**self.training_plan_)
        return new_quantized_net(self, self.n_outputs_, self._module_params(self.capacity_["chosen"]), plan)

    def prune(self, X, y, n_prune_neurons_percentage: float, **fit_params):
        """Return a fine-tuned copy of this trained model with a share of its hidden neurons pruned.

        The neurons with the smallest weights (L2 norm) are removed, then the copy trains for ``max_epochs``
        more epochs from this model's weights, with the same configuration. Half the neurons of a wide
        model (high ``module__n_hidden_neurons_multiplier``) can often go without losing accuracy.

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
        X, y_train, _ = pruned._check_training_data(X, y, reset=False)
        trained = self.base_module_to_compile
        offset, scale = trained.output_offset.numpy(), trained.output_scale.numpy()
        y_fit = y_train if self._target_scaling(y_train) is None else (y_train - offset) / scale
        net = pruned._new_fitted_net()
        with seeded_torch(self.random_state), one_torch_thread():
            net.initialize()
            load_trained_weights(net, trained.state_dict())
            net.module_.set_output_scaling(np.zeros_like(offset), np.ones_like(scale))
            see_rounding(net, pruned._rounding_threshold_bits())
            # Neuron masks are chosen from the trained weights, not from the new network's random ones.
            net.module_.enable_pruning()
            net.initialize_optimizer()
            net.partial_fit(X, y_fit, **fit_params)
            pruned.on_train_end(net, X, y_fit)
        net.module_.set_output_scaling(offset, scale)
        pruned._build_integer_model(net, X)
        return pruned

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "quantized_module_")

    # -- fitted state --------------------------------------------------------------------------------------
    @property
    def history(self):
        """skorch's training history: one dict per epoch (``train_loss``, ``dur``...)."""
        check_is_fitted(self)
        return self.skorch_net_.history

    @property
    def base_module_to_compile(self):
        """The trained torch module (:class:`~veil.qat.SparseQuantNeuralNetwork`) that was exported."""
        check_is_fitted(self)
        return self.skorch_net_.module_

    @property
    def n_bits_quant(self) -> int:
        """Bit-width of the quantized inputs and activations (``n_a_bits`` of the trained module)."""
        return self.base_module_to_compile.n_a_bits

    def infer(self, x, **fit_params) -> torch.Tensor:
        """Run the trained torch network (fake-quantized floats, not the integer model) on one batch."""
        check_is_fitted(self)
        return self.skorch_net_.infer(x, **fit_params)

    # -- files ---------------------------------------------------------------------------------------------
    def dump(self, file) -> None:
        """Write this estimator to ``file`` (a path or a binary file object) in Veil's pickle-free format.

        Parameters, fitted attributes, the trained torch weights and the integer model are written; the
        compiled circuit is not: after :func:`veil.load`, call :meth:`compile` again (no retraining).
        """
        write_file(file, self._file_kind, estimator_to_content(self))

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


__all__ = ["BaseQuantizedNeuralNet", "CapacityReport"]
