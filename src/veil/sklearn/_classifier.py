"""NeuralNetClassifier: a quantization-aware MLP classifier that predicts in clear or in FHE."""

from __future__ import annotations

import numpy as np
import skorch
from sklearn.base import ClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from torch import nn

from veil.errors import InputValidationError
from veil.quantization import class_labels, class_probabilities

from ._base import BaseQuantizedNeuralNet


class NeuralNetClassifier(ClassifierMixin, BaseQuantizedNeuralNet):
    """Fully connected classifier trained with quantization-aware training, predicting in clear or in FHE.

    ``fit`` trains a :class:`~veil.qat.SparseQuantNeuralNetwork` (low-bit weights and activations,
    accumulators kept within their budgets by pruning) with skorch, then builds its integer model:
    ``predict`` works at once in clear (``fhe="disable"``); after :meth:`compile`, also in FHE simulation
    and encrypted. Out of the box ``fit`` also decides how much capacity the data needs: it holds out 20%
    of the rows, trains a float MLP on the rest as the reference, and tries depths and hidden accumulator
    budgets (the lookup precision, the main lever on encrypted latency) by increasing estimated latency,
    keeping the first whose validation score is within ``accuracy_tolerance`` of the reference's, else
    the cheapest within ``accuracy_tolerance`` of the best. On up to 2,000 rows the chosen configuration
    then trains again on every row; past them the network as measured is kept. ``capacity_`` reports
    what was measured and chosen.

    Parameters
    ----------
    module__n_layers : int or None, default=None
        Number of linear layers (``module__n_layers - 1`` hidden layers). None: chosen by ``fit``, 2 to 4.
    module__n_hidden_neurons_multiplier : int, default=1
        Hidden layers have ``module__n_hidden_neurons_multiplier * n_features`` neurons, and at least
        ``module__min_hidden_neurons``. Each costs one table lookup (idle ones cost nothing).
    module__n_w_bits : int or None, default=None
        Bits of the weights. None: 2 (ternary), except in the search's two wide candidates: 3-bit
        weights with 8-bit accumulators (or 4-bit inputs with 9-bit accumulators) rounded exactly to 6
        bits before their lookups, tried when ``module__n_accum_bits`` and ``rounding_threshold_bits``
        are left to None too.
    module__n_a_bits : int or None, default=None
        Bits of the inputs and activations. None: 3; when ``fit`` searches (``module__n_layers`` or
        ``module__n_accum_bits`` left to None), it tries 4 as well in one-hidden-layer networks: finer
        inputs against fewer inputs per neuron.
    module__n_accum_bits : int or None, default=None
        Largest bit-width of any hidden layer's integer accumulator, guaranteed for every input: the
        precision of the table lookups. None: chosen by ``fit``, 4 to 6 bits. Setting both this and
        ``module__n_layers`` turns the search off.
    module__n_prune_neurons_percentage : float, default=0.0
        Share of hidden neurons removed; set by :meth:`prune`.
    module__activation_function : torch.nn.Module subclass, default=torch.nn.ReLU
        Activation of the hidden layers.
    module__quant_narrow, module__quant_signed, module__power_of_two_scaling : bool
        Narrow-range (default False) or signed (default True) input and activation quantizers, and
        power-of-two quantization scales (default True).
    module__n_accum_bits_output : int or None, default=None
        Accumulator budget of the output layer, which is decrypted without a table lookup. None means
        ``max(hidden budget, 7)``.
    module__min_hidden_neurons : int or None, default=None
        The fewest neurons a hidden layer has, for data with few features. None: 32, except in the
        search's two wide candidates, which are also tried as wide as ``latency_budget`` holds (up to four
        times the width) when it holds at least 1.5 times, unless a width parameter is set.
    module__max_hidden_neurons : int or None, default=None
        The most neurons a hidden layer has (wins over ``module__min_hidden_neurons``). None: no cap,
        except in the search's two wide candidates, which are narrowed (down to 32 neurons) to fit
        ``latency_budget`` on data with many features, unless a width parameter is set.
    module__mid_rise_inputs : bool or None, default=None
        Quantize the inputs on a grid symmetric around zero (no level at zero). None: up to 32 features.
    module__output_partial_sums : bool, default=True
        Every output reads every neuron of the last hidden layer: the circuit returns partial sums, each
        within the output budget, and the client adds them after decryption. False: one sum per output,
        its inputs pruned to the budget.
    module__input_range : float or None, default=None
        The input quantizer's fixed range, in normalized units: inputs are clipped to about
        ±``module__input_range``. None: chosen by the capacity search from 2, 3 and 4 (by a float MLP on
        each input grid, on the validation split; for the cheapest candidate, by its own validation loss
        at each range), or learned in training when nothing is searched.
    module__folded_inputs : bool or None, default=None
        The first layer also reads each normalized feature's distance from its centre, computed by the
        client: twice the encrypted inputs, the same table lookups. It pays on even, per-feature effects
        (radial classes, a squared term) and costs accuracy where many plain features add up. None:
        chosen by ``fit`` on the validation split, when the folded features raise a linear model's score
        by 0.1 and by ten validation rows' worth (``capacity_["folding"]``); not folded under 60 rows.
    criterion : torch loss class or None, default=None
        Training loss; None means ``torch.nn.CrossEntropyLoss`` on the logits. Class weights:
        ``criterion__weight``, one per class in the order of ``classes_``.
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=0.005
    max_epochs : int, default=50
    batch_size : int or None, default=None
        None: 16 rows, more past 1,024 training rows so that an epoch is at most 64 optimizer steps (fit
        time then stops growing with the rows), fewer (down to 4) on data so small that training would
        run under 600 steps. Training needs more than 300 optimizer steps in all for the quantizers to
        learn their scales; ``fit`` warns (``ConvergenceWarning``) when it ran fewer.
    iterator_train__shuffle : bool, default=True
        Shuffle the training rows at every epoch.
    train_split : callable or None, default=None
        skorch's validation split (e.g. ``skorch.dataset.ValidSplit(5)``); None trains on all the data.
    callbacks : list of skorch callbacks, "disable" or None
        Run after Veil's own two. ``accumulator_budget`` prunes gradually: every accumulator budget starts
        8 bits loose and reaches its real value at 60% of ``max_epochs`` (``callbacks__accumulator_budget__
        start_bits`` and ``__ramp_fraction``). ``lr_decay`` then anneals the weights' learning rate to 0
        along a half cosine, while the quantizers' learned scales stop at 90% of the epochs
        (``callbacks__lr_decay__hold_fraction`` and ``__scales_fraction``; ``callbacks__lr_decay=None``
        keeps every rate constant). ``"disable"`` removes every callback, Veil's included.
    verbose : int, default=0
        Print skorch's per-epoch log when positive.
    random_state : int, RandomState or None, default=None
        Seed of the weight initialization, the batch shuffling and the validation split of the capacity
        search (torch's global generator is restored afterwards).
    rounding_threshold_bits : None, int or dict, default=None
        Round hidden accumulators exactly to this many bits before their table lookup (see
        :func:`veil.quantization.parse_rounding_threshold_bits`); the output layer is never rounded.
        None: no rounding, unless ``fit`` chooses its rounded candidate (``capacity_["chosen"]`` says so).
    accuracy_tolerance : float, default=0.01
        How far below the float reference's validation score (accuracy, or R² for the regressor) the
        capacity search may stop, and, when no candidate comes that close, how far below the best
        candidate a cheaper one may be kept: higher is faster under encryption, lower is more accurate.
    latency_budget : float or None, default=3.0
        Estimated encrypted seconds per row (on 2 cores) that no searched configuration may exceed,
        except the cheapest one; a budget of about 4 s or more also lets the search try wider hidden
        layers (``module__min_hidden_neurons``). A searched network priced at two thirds of it or more,
        at a width Veil chose, is then compiled without keys, and while concrete's estimate of its
        circuit exceeds the budget, the hidden neurons whose removal raises its training loss least leave
        the integer model (``capacity_["latency_check"]``). None: no limit.
    input_normalization : {"robust"} or None, default="robust"
        Per-feature ``(x - mean) / std`` of the training data winsorized at its 1st and 99th percentiles,
        before the single input quantizer; computed at ``fit`` and run by the client in clear, so raw
        features of any magnitude work without a scaler. None: features are quantized as given.
    n_jobs : int or None, default=None
        How many networks of the capacity search train at once, in worker processes (joblib's
        convention: None means 1 unless inside ``joblib.parallel_config``, -1 means every core). The
        outcome is the same whatever the value; only the wall time of ``fit`` changes.
    classes : array-like or None, default=None
        All the class labels, when the training labels may not contain every one.
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
    capacity_ : dict
        What the capacity search chose (``chosen``: the ``module__*`` values it set), its estimated
        encrypted seconds per row, the float reference's validation score (``input_grids``: also on each
        input grid it chose the input range from), every candidate tried (``first_candidate_ranges``: the
        first at each input range, the range of least validation loss kept), and ``folding``: the linear
        models' scores that chose ``module__folded_inputs``, ``refit``: the chosen configuration's
        training on every row (up to 2,000 rows), the final network unless it failed, and
        ``latency_check``: the compiled circuit's estimated seconds and the hidden neurons removed to fit
        ``latency_budget`` (None: not checked).
    training_plan_ : dict
        The batch size, steps per epoch and epochs the final training ran.
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
    _default_criterion = nn.CrossEntropyLoss
    _file_kind = "neural-net-classifier"
    base_estimator_type = MLPClassifier

    def __init__(self, *, classes=None, **kwargs: object):
        super().__init__(**kwargs)
        self.classes = classes

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The shared parameters of the base's signature, and ``classes``."""
        return sorted({*BaseQuantizedNeuralNet._get_param_names(), "classes"})

    def _target_scaling(self, y_train: np.ndarray) -> None:
        return None  # class indices are trained as they are

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
        return class_probabilities(self._outputs(X, fhe, execute_in_fhe))

    def predict(self, X, fhe: str = "disable", *, execute_in_fhe: bool | None = None) -> np.ndarray:
        """Predicted class labels (from ``classes_``); parameters as in :meth:`predict_proba`."""
        return class_labels(self._outputs(X, fhe, execute_in_fhe), self.classes_)
