"""NeuralNetClassifier: a quantization-aware MLP classifier that predicts in clear or in FHE."""

from __future__ import annotations

import numpy as np
import skorch
from scipy.special import softmax
from sklearn.base import ClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
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


class NeuralNetClassifier(ClassifierMixin, BaseQuantizedNeuralNet):
    """Fully connected classifier trained with quantization-aware training, predicting in clear or in FHE.

    ``fit`` trains a :class:`SparseQuantNeuralNetwork` (low-bit weights and activations, accumulators kept
    within ``module__n_accum_bits`` by pruning) with skorch, then builds its integer model: ``predict`` works
    at once in clear (``fhe="disable"``); after :meth:`compile`, also in FHE simulation and encrypted.

    Parameters
    ----------
    module__n_layers : int, default=2
        Number of linear layers (``module__n_layers - 1`` hidden layers).
    module__n_hidden_neurons_multiplier : int, default=1
        Hidden layers have ``module__n_hidden_neurons_multiplier * n_features`` neurons, and at least
        ``module__min_hidden_neurons``. Smaller is faster in FHE, larger trains more robustly (see
        :meth:`prune`; pruned neurons cost no table lookup).
    module__n_w_bits, module__n_a_bits : int, default=2 and 3
        Bits of the weights, and of the inputs and activations.
    module__n_accum_bits : int or None, default=None
        Largest bit-width of any hidden layer's integer accumulator, guaranteed for every input: the
        precision of the table lookups, the main lever on encrypted latency. None: 4 bits up to 32
        features, 5 bits above (a neuron then reads four inputs instead of two).
    module__n_prune_neurons_percentage : float, default=0.0
        Share of hidden neurons removed; set by :meth:`prune`.
    module__activation_function : torch.nn.Module subclass, default=torch.nn.ReLU
        Activation of the hidden layers. ReLU benefits from power-of-two scales: fastest in FHE.
    module__quant_narrow, module__quant_signed, module__power_of_two_scaling : bool
        Narrow-range (default False) or signed (default True) input and activation quantizers, and
        power-of-two quantization scales (default True).
    module__n_accum_bits_output : int or None, default=None
        Accumulator budget of the output layer, which is decrypted without a table lookup. None means
        ``max(module__n_accum_bits, 7)``: with 4-bit lookups a 7-bit output was measured to cost nothing
        more; with digits' 5-bit ones it doubled the keys at p_error 2^-40, but 6 bits lost 3-4 points.
    module__min_hidden_neurons : int, default=32
        The fewest neurons a hidden layer has, for data with few features.
    module__mid_rise_inputs : bool or None, default=None
        Quantize the inputs on a grid symmetric around zero (bins centred on odd multiples of half a
        step) instead of one with a level at zero. None: up to 32 features, where it was measured better
        (moons +2.6 points); digits lost 1.8 with it.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        Training loss on the network's logits. Class weights: ``criterion__weight``, one per class in the
        order of ``classes_`` (e.g. from ``sklearn.utils.class_weight.compute_class_weight``).
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=0.005
    max_epochs : int, default=50
    batch_size : int, default=16
        Training needs more than 300 optimizer steps in all (ceil(n_samples / batch_size) per epoch) for
        the input and activation quantizers to learn their scales; ``fit`` warns
        (``sklearn.exceptions.ConvergenceWarning``) when it ran fewer.
    iterator_train__shuffle : bool, default=True
        Shuffle the training rows at every epoch.
    train_split : callable or None, default=None
        skorch's validation split (e.g. ``skorch.dataset.ValidSplit(5)``); None trains on all the data.
    callbacks : list of skorch callbacks, or None
        Run after Veil's own two. ``accumulator_budget`` prunes gradually: every accumulator budget starts
        8 bits loose and reaches its real value at 60% of ``max_epochs`` (tune it with
        ``callbacks__accumulator_budget__start_bits`` and ``__ramp_fraction``; ``start_bits=0`` enforces
        the budget from the first step). ``lr_decay`` then anneals the weights' learning rate to 0 along
        a half cosine over the remaining epochs, while the quantizers' learned scales keep the full rate
        until 90% of the epochs and then stop (``callbacks__lr_decay__hold_fraction`` and
        ``__scales_fraction``; ``callbacks__lr_decay=None`` keeps every rate constant). The scales are the
        optimizer group ``optimizer__param_groups=[("*act_quant*", {})]`` unless you pass your own groups;
        a group holding any scale is treated as a scale group. ``"disable"`` removes every callback,
        Veil's included.
    verbose : int, default=0
        Print skorch's per-epoch log when positive.
    classes : array-like or None, default=None
        All the class labels, when the training labels may not contain every one.
    random_state : int, RandomState or None, default=None
        Seed of the weight initialization and the batch shuffling (torch's global generator is restored
        afterwards); None draws from torch's global generator.
    rounding_threshold_bits : None, int or dict, default=None
        Round accumulators exactly to this many bits before their table lookup (see
        :func:`veil.quantization.parse_rounding_threshold_bits`). None: the accumulator budget already keeps
        lookups small, and rounding a network trained without it measured less accurate.
    **kwargs
        Other skorch parameters, routed by prefix: ``module__*`` (e.g. ``module__accumulator_route``),
        ``criterion__*``, ``optimizer__*``, ``iterator_train__*``, ``iterator_valid__*``, ``dataset__*``,
        ``callbacks__*``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of the network's outputs.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when ``X`` was a DataFrame with string column names.
    n_outputs_ : int
        Number of network outputs (one per class).
    skorch_net_ : skorch.NeuralNetClassifier
        The trained skorch network.
    quantized_module_ : veil.quantization.QuantizedModule
        The integer model used for prediction.

    Notes
    -----
    A pickled model keeps its network and integer model but not its FHE circuit: call :meth:`compile` again.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    >>> model = NeuralNetClassifier(module__n_layers=2, max_epochs=5, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    >>> circuit = model.compile(X)
    >>> bool((model.predict(X[:3], fhe="simulate") == model.predict(X[:3])).all())
    True
    """

    _skorch_class = skorch.NeuralNetClassifier
    _file_kind = "neural-net-classifier"
    base_estimator_type = MLPClassifier

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
        criterion=nn.CrossEntropyLoss,
        optimizer=optim.Adam,
        lr=DEFAULT_LR,
        max_epochs=DEFAULT_MAX_EPOCHS,
        batch_size=DEFAULT_BATCH_SIZE,
        iterator_train__shuffle=True,
        train_split=None,
        callbacks=None,
        verbose=0,
        classes=None,
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
        self.classes = classes

    def _check_targets(self, y, reset: bool) -> np.ndarray:
        y = column_or_1d(y.to_numpy() if hasattr(y, "to_numpy") else y, warn=True)
        check_classification_targets(y)
        if reset:
            encoder = LabelEncoder().fit(y if self.classes is None else np.asarray(self.classes))
            self.classes_ = encoder.classes_
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise InputValidationError(
                f"y contains labels that are not in classes {self.classes_}: {unknown}"
            )
        weight = getattr(self, "criterion__weight", None)
        if weight is not None and len(weight) != len(self.classes_):
            raise InputValidationError(
                f"criterion__weight must hold one weight per class ({len(self.classes_)}, in the order of "
                f"classes_ {self.classes_}), got {len(weight)}"
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _n_outputs(self, y_train: np.ndarray) -> int:
        return len(self.classes_)

    def predict_proba(self, X, fhe: str = "disable", *, execute_in_fhe: bool | None = None) -> np.ndarray:
        """Class probabilities: the softmax of the integer model's dequantized logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        fhe : {"disable", "simulate", "execute"}, default="disable"
            Run the integer model in clear, in FHE simulation, or encrypted (one row at a time, with a
            progress bar). The last two need :meth:`compile` first.
        execute_in_fhe : bool, optional
            Deprecated: ``True`` means ``fhe="execute"``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return softmax(self._outputs(X, fhe, execute_in_fhe), axis=1)

    def predict(self, X, fhe: str = "disable", *, execute_in_fhe: bool | None = None) -> np.ndarray:
        """Predicted class labels (from ``classes_``); parameters as in :meth:`predict_proba`."""
        logits = self._outputs(X, fhe, execute_in_fhe)
        return self.classes_[np.argmax(logits, axis=1)]
