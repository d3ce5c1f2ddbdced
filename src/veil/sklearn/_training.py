"""Training one network for an estimator: the quantization-aware one, or its float reference.

Both are skorch networks of the estimator's skorch class, built from the estimator's parameters plus what
``fit`` resolved (module overrides from the capacity search, the batch size, the input normalization).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from torch import nn
from torch.utils.data import default_convert

from veil._progress import progress_bar
from veil.qat import (
    LEARNED_SCALES_PATTERN,
    GradualAccumulatorBudget,
    LateCosineDecay,
    SparseQuantNeuralNetwork,
)
from veil.qat._layer_integers import integer_range
from veil.quantization import parse_rounding_threshold_bits

from ._params import TrainingPlan

__all__ = ["FloatReference", "TrainingProgress", "measure", "new_quantized_net", "train"]

#: Width of the float reference's hidden layers, at least: scikit-learn's MLP default.
REFERENCE_MIN_WIDTH = 100
# tqdm's default line without the rate, so that the epoch's loss and budget fit in 80 columns.
_TRAINING_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
_LOSSES = {"train_loss": "loss", "valid_loss": "valid loss"}


class FloatReference(nn.Module):
    """A float MLP on the same normalized inputs: what the quantized network is measured against.

    With ``input_grid = (value_range, n_bits)``, it reads the inputs snapped to the signed grid of a
    quantizer of that range and width: what that grid leaves any network to learn from.
    """

    def __init__(
        self,
        input_dim: int,
        n_outputs: int,
        width: int,
        n_layers: int,
        activation: type,
        input_grid: tuple[float, int] | None = None,
    ) -> None:
        super().__init__()
        self.input_grid = input_grid
        widths = [input_dim, *[width] * (n_layers - 1), n_outputs]
        layers: list[nn.Module] = []
        for k in range(n_layers):
            layers.append(nn.Linear(widths[k], widths[k + 1]))
            if k < n_layers - 1:
                layers.append(activation())
        self.layers = nn.Sequential(*layers)
        self.register_buffer("input_offset", torch.zeros(input_dim))
        self.register_buffer("input_scale", torch.ones(input_dim))

    def set_input_normalization(self, offset, scale, *fold_statistics) -> None:
        """Set ``(x - offset) / scale``. The reference reads no folded inputs: ``fold_statistics`` unused."""
        with torch.no_grad():
            self.input_offset.copy_(torch.as_tensor(np.asarray(offset, dtype=np.float32)))
            self.input_scale.copy_(torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.input_offset) / self.input_scale
        if self.input_grid is not None:  # what a quantized network's input grid leaves of the inputs
            value_range, n_bits = self.input_grid
            low, high = integer_range(n_bits, signed=True, narrow=False)  # the default input quantizer's
            step = value_range / -low
            x = torch.clamp(torch.round(x / step), low, high) * step
        return self.layers(x)


class BatchFetchingDataset(Dataset):
    """skorch's dataset, read one batch at a time.

    torch's loader calls ``__getitems__`` with a batch's indices when a dataset has it: one fancy index
    instead of a Python call per row through scikit-learn's index checks, and a stack
    (docs/decisions/training-step-cost.md). The estimators pass validated arrays. The batches, their
    order and their dtypes are skorch's; the loader's ``collate_fn`` must then be
    :func:`torch.utils.data.default_convert`, which only turns the batch's arrays into tensors.
    """

    def __getitems__(self, indices: list[int]):
        rows = np.asarray(indices)
        return self.transform(self.X[rows], None if self.y is None else self.y[rows])


#: What fetches batches, unless the user routed a collate function of their own.
_BATCH_FETCHING = {
    "dataset": BatchFetchingDataset,
    "iterator_train__collate_fn": default_convert,
    "iterator_valid__collate_fn": default_convert,
}


class TrainingProgress(Callback):
    """A progress bar over one training's epochs, with the loss and the accumulator budget of the epoch.

    Shown on standard error when progress is (see :func:`veil.set_progress`), except when ``verbose``
    asks for skorch's own table of epochs, which it would garble.
    """

    def initialize(self):
        self.bar_ = None
        return self

    def on_train_begin(self, net, **kwargs) -> None:
        label = _training_label(net.module_)
        self.bar_ = progress_bar(
            net.max_epochs, label, unit="epoch", shown=not net.verbose, bar_format=_TRAINING_FORMAT
        )

    def on_epoch_end(self, net, **kwargs) -> None:
        if self.bar_ is not None:
            self.bar_.set_postfix_str(_epoch_summary(net), refresh=False)
            self.bar_.update(1)

    def on_train_end(self, net, **kwargs) -> None:
        if self.bar_ is not None:
            self.bar_.close()
            self.bar_ = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "bar_": None}  # a live bar is a display, not state


def _training_label(module: nn.Module) -> str:
    """What is trained: the float reference, or the quantized network and its depth."""
    if isinstance(module, FloatReference):
        return "training the float reference"
    n_layers = getattr(module, "n_layers", None)
    return "training" if n_layers is None else f"training {n_layers} layers"


def _epoch_summary(net) -> str:
    """The last epoch's losses and, for a quantized network, its hidden accumulator budget in bits."""
    epoch = net.history[-1]
    parts = [f"{shown} {epoch[name]:.3g}" for name, shown in _LOSSES.items() if name in epoch]
    budget = getattr(net.module_, "hidden_accum_bits", None)
    if budget is not None:  # widened by the gradual schedule's slack in the first epochs
        budget += getattr(net.module_, "budget_slack_bits", 0)
        parts.append(f"accumulators {budget} bits")
    return ", ".join(parts)


def _callbacks(estimator, quantized: bool):
    """Veil's schedules (gradual budget, late decay) and progress bar before the user's callbacks;
    ``"disable"``: none."""
    if isinstance(estimator.callbacks, str):
        return estimator.callbacks
    own = [("accumulator_budget", GradualAccumulatorBudget()), ("lr_decay", LateCosineDecay())]
    progress = ("progress", TrainingProgress())
    return [*(own if quantized else []), progress, *(estimator.callbacks or [])]


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


def new_reference_net(
    estimator, n_outputs: int, width: int, n_layers: int, plan: TrainingPlan, input_grid=None
):
    """An uninitialized skorch network around :class:`FloatReference` (``input_grid``: see there)."""
    routed = {k: v for k, v in _routed_params(estimator).items() if k.startswith("criterion__")}
    return estimator._skorch_class(
        module=FloatReference,
        module__input_dim=estimator.n_features_in_,
        module__n_outputs=n_outputs,
        module__width=max(width, REFERENCE_MIN_WIDTH),
        module__n_layers=n_layers,
        module__activation=estimator.module__activation_function,
        module__input_grid=input_grid,
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
        **(_BATCH_FETCHING if _fetches_batches(estimator) else {}),
        "criterion": estimator._criterion(),
        "optimizer": estimator.optimizer,
        "lr": estimator.lr,
        "max_epochs": plan.max_epochs,
        "batch_size": plan.batch_size,
        "iterator_train__shuffle": estimator.iterator_train__shuffle,
        "train_split": estimator.train_split,
        "verbose": estimator.verbose,
    }


def _fetches_batches(estimator) -> bool:
    """Whether Veil's batch fetching may serve: the user routed no collate function of their own.

    (``dataset__*`` arguments reach :class:`BatchFetchingDataset`, which takes skorch's.)
    """
    return not any(name.endswith("__collate_fn") for name in estimator._routed_params())


def train(net, X: np.ndarray, y: np.ndarray, normalization, rounding=None, **fit_params):
    """Initialize ``net``, set its input normalization, train it on ``X, y``; returns ``net``.

    ``rounding`` is the ``rounding_threshold_bits`` its integer model will use, which a quantized
    network's training then sees (:func:`see_rounding`).
    """
    net.initialize()
    net.module_.set_input_normalization(*normalization)
    if rounding is not None:
        see_rounding(net, rounding)
    net.partial_fit(X, y, **fit_params)
    return net


def see_rounding(net, rounding) -> None:
    """Let ``net``'s quantized module round its hidden accumulators as ``rounding_threshold_bits=rounding``
    will make its integer model do (None: no rounding)."""
    policy = parse_rounding_threshold_bits(rounding)
    module = net.module_
    module.set_accumulator_rounding(None if policy is None else policy.kept_bits(module.n_a_bits))


def measure(net, X: np.ndarray, y: np.ndarray, is_classifier: bool) -> tuple[float, float]:
    """``(score, loss)`` of ``net``'s torch module on ``X`` (classifier: ``y`` holds class indices).

    The score is the accuracy or R²; the loss the log-loss of the softmax outputs or the mean squared
    error, a steadier comparison of two networks on a small split than accuracy, which moves by whole rows.
    A training that diverged (an output not finite) measures ``(-inf, inf)``.
    """
    with torch.no_grad():
        outputs = net.module_.eval()(torch.as_tensor(X)).numpy()
    if not np.isfinite(outputs).all():
        return -np.inf, np.inf
    if is_classifier:
        probabilities = torch.softmax(torch.as_tensor(outputs, dtype=torch.float64), dim=1).numpy()
        loss = log_loss(y, probabilities, labels=np.arange(outputs.shape[1]))
        return float(accuracy_score(y, np.argmax(outputs, axis=1))), float(loss)
    outputs = outputs.reshape(y.shape)
    return float(r2_score(y, outputs)), float(mean_squared_error(y, outputs))
