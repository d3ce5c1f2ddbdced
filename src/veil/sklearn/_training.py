"""Training one network for an estimator: the quantization-aware one, or its float reference.

Both are skorch networks of the estimator's skorch class, built from the estimator's parameters plus what
``fit`` resolved (module overrides from the capacity search, the batch size, the input normalization).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, r2_score
from torch import nn

from veil.qat import (
    LEARNED_SCALES_PATTERN,
    GradualAccumulatorBudget,
    LateCosineDecay,
    SparseQuantNeuralNetwork,
)

from ._params import TrainingPlan

__all__ = ["FloatReference", "new_quantized_net", "score", "train"]

#: Width of the float reference's hidden layers, at least: scikit-learn's MLP default.
REFERENCE_MIN_WIDTH = 100


class FloatReference(nn.Module):
    """A float MLP on the same normalized inputs: what the quantized network is measured against."""

    def __init__(self, input_dim: int, n_outputs: int, width: int, n_layers: int, activation: type) -> None:
        super().__init__()
        widths = [input_dim, *[width] * (n_layers - 1), n_outputs]
        layers: list[nn.Module] = []
        for k in range(n_layers):
            layers.append(nn.Linear(widths[k], widths[k + 1]))
            if k < n_layers - 1:
                layers.append(activation())
        self.layers = nn.Sequential(*layers)
        self.register_buffer("input_offset", torch.zeros(input_dim))
        self.register_buffer("input_scale", torch.ones(input_dim))

    def set_input_normalization(self, offset, scale) -> None:
        with torch.no_grad():
            self.input_offset.copy_(torch.as_tensor(np.asarray(offset, dtype=np.float32)))
            self.input_scale.copy_(torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.input_offset) / self.input_scale)


def _callbacks(estimator, quantized: bool):
    """Veil's schedules (gradual budget, late decay) before the user's callbacks; ``"disable"``: none."""
    if isinstance(estimator.callbacks, str):
        return estimator.callbacks
    own = [("accumulator_budget", GradualAccumulatorBudget()), ("lr_decay", LateCosineDecay())]
    return [*(own if quantized else []), *(estimator.callbacks or [])]


def new_quantized_net(estimator, n_outputs: int, module_params: dict, plan: TrainingPlan):
    """An uninitialized skorch network around :class:`SparseQuantNeuralNetwork`."""
    routed = _routed_params(estimator)
    # The quantizers' learned scales in a group of their own, on their own schedule (LateCosineDecay).
    routed.setdefault("optimizer__param_groups", [(LEARNED_SCALES_PATTERN, {})])
    module = {f"module__{name}": value for name, value in module_params.items()}
    return estimator._skorch_class(
        module=SparseQuantNeuralNetwork,
        module__input_dim=estimator.n_features_in_,
        module__n_outputs=n_outputs,
        **module,
        **_training_params(estimator, plan),
        callbacks=_callbacks(estimator, quantized=True),
        **routed,
    )


def new_reference_net(estimator, n_outputs: int, width: int, n_layers: int, plan: TrainingPlan):
    """An uninitialized skorch network around :class:`FloatReference`."""
    routed = {k: v for k, v in _routed_params(estimator).items() if k.startswith("criterion__")}
    return estimator._skorch_class(
        module=FloatReference,
        module__input_dim=estimator.n_features_in_,
        module__n_outputs=n_outputs,
        module__width=max(width, REFERENCE_MIN_WIDTH),
        module__n_layers=n_layers,
        module__activation=estimator.module__activation_function,
        **_training_params(estimator, plan),
        callbacks=_callbacks(estimator, quantized=False),
        **routed,
    )


def _routed_params(estimator) -> dict:
    """The estimator's routed skorch parameters, class weights as the tensor the loss wants."""
    routed = estimator._routed_params()
    weight = routed.get("criterion__weight")
    if weight is not None and not isinstance(weight, torch.Tensor):
        routed["criterion__weight"] = torch.as_tensor(np.asarray(weight, dtype=np.float32))
    return routed


def _training_params(estimator, plan: TrainingPlan) -> dict:
    return {
        "criterion": estimator._criterion(),
        "optimizer": estimator.optimizer,
        "lr": estimator.lr,
        "max_epochs": plan.max_epochs,
        "batch_size": plan.batch_size,
        "iterator_train__shuffle": estimator.iterator_train__shuffle,
        "train_split": estimator.train_split,
        "verbose": estimator.verbose,
    }


def train(net, X: np.ndarray, y: np.ndarray, normalization, **fit_params):
    """Initialize ``net``, set its input normalization, train it on ``X, y``; returns ``net``."""
    net.initialize()
    net.module_.set_input_normalization(*normalization)
    net.partial_fit(X, y, **fit_params)
    return net


def score(net, X: np.ndarray, y: np.ndarray, is_classifier: bool) -> float:
    """Accuracy (classifier: ``y`` holds class indices) or R² of ``net``'s torch module on ``X``."""
    with torch.no_grad():
        outputs = net.module_.eval()(torch.as_tensor(X)).numpy()
    if is_classifier:
        return float(accuracy_score(y, np.argmax(outputs, axis=1)))
    return float(r2_score(y, outputs.reshape(y.shape)))
