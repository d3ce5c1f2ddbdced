"""How much capacity the data needs: a search over network configurations, cheapest first.

A configuration's cost under encryption is its table lookups: one per hidden neuron, priced by the
precision it reads (the hidden accumulator budget). ``fit`` holds out a validation split, trains a float
MLP on the rest as the reference (and on the inputs snapped to each input grid it may fix, to choose the
input range: ``_input_ranges``), then trains candidate configurations (depth and accumulator budget) in
increasing estimated latency and keeps the first whose validation score is within ``accuracy_tolerance``
of the reference's, else the cheapest within ``accuracy_tolerance`` of the best one. Before any of it,
the validation split decides whether the candidates read folded inputs (``_folding``); after it, on small
data, the chosen configuration trains again on every row (:func:`_refit`). Parameters the user set are
never searched: a candidate only fills in what was left to ``None``. Measurements behind the ladder:
docs/decisions/capacity-search.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split

from veil.qat._defaults import (
    DEFAULT_MIN_HIDDEN_NEURONS,
    DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
    DEFAULT_N_W_BITS,
)
from veil.quantization import parse_rounding_threshold_bits

from ._folding import choose_folding
from ._input_ranges import INPUT_RANGES, trained_candidates, with_reference_range
from ._params import VALIDATION_FRACTION
from ._search_jobs import SearchJobs

__all__ = ["LOOKUP_SECONDS", "Candidate", "CapacityReport", "candidates", "search_capacity"]

#: Seconds per table lookup by the bit-width it reads, amortized over 64 parallel lookups on a 2-core
#: machine at p_error 2**-40 (``benchmarks/pbs.py``). Used to rank candidates and to report an estimate.
LOOKUP_SECONDS = {2: 0.007, 3: 0.009, 4: 0.011, 5: 0.026, 6: 0.060, 7: 0.123, 8: 0.429}
#: Seconds per bit an accumulator loses to exact rounding: in concrete's cost model of Veil's rounded
#: circuits, each such bootstrap costs about a 4-bit lookup (docs/decisions/latency-estimate.md).
ROUNDING_BIT_SECONDS = LOOKUP_SECONDS[4]
#: Depths (linear layers) and hidden accumulator budgets the search combines. At 4 bits a neuron reads
#: two inputs and depth does not help; at 5 bits (four inputs) a second hidden layer does.
SEARCHED_N_LAYERS = (2, 3, 4)
SEARCHED_ACCUM_BITS = (4, 5, 6)
#: Input and activation bit-widths the search tries; the wider one in one-hidden-layer networks only.
SEARCHED_A_BITS = (3, 4)
#: Fewer rows than this and a validation split says nothing: the cheapest candidate is used.
MIN_SEARCH_ROWS = 60
#: The one-hidden-layer, 6-bit, 3-bit-input candidate reads wider neurons instead: 3-bit weights and 8-bit
#: accumulators (more inputs each), rounded exactly to 6 bits before the same lookup
#: (docs/decisions/rounded-candidate.md). Offered when the user sets none of these.
ROUNDED = {"lookup_bits": 6, "n_accum_bits": 8, "n_w_bits": 3, "n_a_bits": SEARCHED_A_BITS[0]}
#: The narrowest layer a rounded candidate is narrowed to, to fit ``latency_budget`` on wide data: the
#: default width of narrow data.
MIN_NARROWED_NEURONS = DEFAULT_MIN_HIDDEN_NEURONS
#: Offered too, replacing nothing: the same rounded neurons reading 4-bit inputs through 9-bit accumulators
#: (the finer input grid radial problems want), the dearest candidate at 32 neurons.
ROUNDED_WIDE_INPUTS = {"lookup_bits": 6, "n_accum_bits": 9, "n_w_bits": 3, "n_a_bits": SEARCHED_A_BITS[1]}
#: How far below the searched network's validation score a refit may land before it counts as a failed
#: training, in units of 1/sqrt(validation rows): two standard errors of an accuracy near one half. Two
#: networks of the same configuration differ by their seeds (and the refit saw those rows).
REFIT_NOISE = 1.0
#: Up to this many rows the chosen configuration trains again on every row. Its effect on test scores was
#: a seed's spread on either side of it (docs/decisions/refit.md); past it one more training cost 8-38% of
#: ``fit``, under it a few seconds.
REFIT_MAX_ROWS = 2000


def estimated_seconds(
    n_hidden_neurons: int, n_hidden_layers: int, lookup_bits: int, rounded_bits: int = 0
) -> float:
    """Encrypted seconds per row if every hidden neuron stays active (idle ones cost nothing).

    A neuron costs its lookup, priced by the bits it reads, and one bootstrap per bit its accumulator
    loses to exact rounding (:data:`ROUNDING_BIT_SECONDS`).
    """
    per_neuron = LOOKUP_SECONDS[min(max(lookup_bits, 2), 8)] + rounded_bits * ROUNDING_BIT_SECONDS
    return n_hidden_layers * n_hidden_neurons * per_neuron


@dataclass(frozen=True)
class Candidate:
    """One configuration to try: the ``module__*`` values it sets, its estimated latency, and the
    ``rounding_threshold_bits`` its integer model uses (None: no rounding)."""

    module_params: dict
    estimated_seconds: float
    rounding_threshold_bits: dict | None = None

    @property
    def settings(self) -> dict:
        """What the candidate sets, as ``capacity_`` reports it: module values, and rounding if any."""
        if self.rounding_threshold_bits is None:
            return dict(self.module_params)
        return {**self.module_params, "rounding_threshold_bits": self.rounding_threshold_bits}

    def with_module_params(self, **params) -> Candidate:
        """The same candidate setting ``params`` too (its estimated latency unchanged)."""
        return replace(self, module_params={**self.module_params, **params})


@dataclass
class CapacityReport:
    """What the search measured; the fitted estimator's ``capacity_`` holds its ``to_dict()``.

    ``input_grids``: the float reference's validation score on each input grid (range and bits) tried.
    ``first_candidate_ranges``: the first candidate's validation score and loss at each input range.
    ``folding``: the linear models' scores that decided ``folded_inputs`` (None: not measured).
    ``refit``: the chosen configuration trained again on every row, its score on the validation rows (which
    it saw) and whether it replaced the searched network (None: nothing searched, or more rows than
    ``REFIT_MAX_ROWS``).
    """

    chosen: dict
    estimated_seconds: float
    searched: bool
    reference_score: float | None = None
    candidates: list = field(default_factory=list)
    input_grids: list = field(default_factory=list)
    first_candidate_ranges: list = field(default_factory=list)
    folding: dict | None = None
    refit: dict | None = None

    def to_dict(self) -> dict:
        """The report as plain values; a measurement that is not finite (a training that diverged) as None,
        which JSON and Veil files hold."""
        return _finite_or_none(asdict(self))


def _finite_or_none(value):
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def candidates(
    n_layers: int | None,
    accum_bits: int | None,
    a_bits_options: tuple[int, ...],
    min_accum_bits,
    n_hidden_neurons: int,
    latency_budget: float | None,
    w_bits: int | None = None,
    may_round: bool = False,
    rounding=None,
    may_narrow: bool = False,
) -> list[Candidate]:
    """The configurations to try, by increasing estimated latency; a set parameter is not varied.

    ``a_bits_options`` are the input and activation bit-widths to try (one unless the search may vary
    them) and ``min_accum_bits(a_bits)`` the smallest budget that holds one input times one weight.
    Candidates over ``latency_budget`` (estimated seconds per row) are dropped, except the cheapest. A
    deeper network at 4 bits is not tried (at two inputs per neuron, depth did not help), nor an input
    wider than a set budget holds, nor a searched wider input in a deeper network. Weights are
    ``w_bits`` (None: ternary); with ``may_round`` (the user set no weight bits, budget or rounding),
    the configuration :data:`ROUNDED` replaces is read through rounding instead, if the budget holds it,
    and :data:`ROUNDED_WIDE_INPUTS` is offered when its input bits and one hidden layer are. The user's
    ``rounding`` (a ``RoundingPolicy``, or None) prices each lookup by the bits it keeps. With
    ``may_narrow`` (the user left the width parameters alone), the rounded candidates are narrowed to fit
    ``latency_budget`` when the default width would not (down to :data:`MIN_NARROWED_NEURONS`).
    """
    layer_options = SEARCHED_N_LAYERS if n_layers is None else (n_layers,)
    bits_options = SEARCHED_ACCUM_BITS if accum_bits is None else (accum_bits,)
    if accum_bits is not None:  # a wider input that the user's budget cannot hold is not an option
        a_bits_options = tuple(a for a in a_bits_options if min_accum_bits(a) <= accum_bits) or a_bits_options
    configurations = {
        (layers, max(bits, min_accum_bits(a_bits)), a_bits)
        for layers in layer_options
        for bits in bits_options
        for a_bits in a_bits_options
    }
    if n_layers is None:  # at two inputs per neuron (4 bits), depth did not help
        configurations = {(layers, bits, a) for layers, bits, a in configurations if layers == 2 or bits > 4}
    if len(a_bits_options) > 1:  # 4-bit activations would leave a second hidden layer's neurons one input
        narrowest = min(a_bits_options)
        configurations = {
            (layers, bits, a) for layers, bits, a in configurations if layers == 2 or a == narrowest
        }
    weights = DEFAULT_N_W_BITS if w_bits is None else w_bits

    def candidate(layers: int, bits: int, a_bits: int) -> Candidate:
        lookup = bits if rounding is None else min(bits, rounding.kept_bits(a_bits))
        plain = Candidate(
            {"n_layers": layers, "n_accum_bits": bits, "n_a_bits": a_bits, "n_w_bits": weights},
            estimated_seconds(n_hidden_neurons, layers - 1, lookup, rounded_bits=bits - lookup),
        )
        if may_round and (layers, bits, a_bits) == (2, ROUNDED["lookup_bits"], ROUNDED["n_a_bits"]):
            rounded = _rounded(n_hidden_neurons, ROUNDED, latency_budget if may_narrow else None)
            if latency_budget is None or rounded.estimated_seconds <= latency_budget:
                return rounded  # else the plain one stays, which the budget may still hold
        return plain

    offered = [candidate(*configuration) for configuration in configurations]
    if may_round and 2 in layer_options and ROUNDED_WIDE_INPUTS["n_a_bits"] in a_bits_options:
        offered.append(
            _rounded(n_hidden_neurons, ROUNDED_WIDE_INPUTS, latency_budget if may_narrow else None)
        )
    found = sorted(
        offered,
        key=lambda c: (c.estimated_seconds, c.module_params["n_layers"], c.module_params.get("n_a_bits", 0)),
    )
    within = [c for c in found[1:] if latency_budget is None or c.estimated_seconds <= latency_budget]
    return [found[0], *within]


def _rounded(n_hidden_neurons: int, configuration: dict, narrow_to: float | None = None) -> Candidate:
    """A rounded ``configuration``: one hidden layer, accumulators rounded exactly to its lookup.

    With ``narrow_to`` (estimated seconds), a layer too wide for it is narrowed to fit, down to
    :data:`MIN_NARROWED_NEURONS` (``max_hidden_neurons``).
    """
    lookup, accum = configuration["lookup_bits"], configuration["n_accum_bits"]
    module_params = {
        "n_layers": 2,
        **{name: configuration[name] for name in ("n_accum_bits", "n_a_bits", "n_w_bits")},
    }
    per_neuron = estimated_seconds(1, 1, lookup, rounded_bits=accum - lookup)
    width = n_hidden_neurons
    if narrow_to is not None and width * per_neuron > narrow_to:
        width = min(width, max(MIN_NARROWED_NEURONS, int(narrow_to / per_neuron)))
        module_params["max_hidden_neurons"] = width
    return Candidate(module_params, width * per_neuron, {"n_bits": lookup, "method": "exact"})


def input_bits_options(n_a_bits: int | None, searching: bool = True) -> tuple[int, ...]:
    """Input and activation bit-widths to try: the user's, else 3, and 4 too when searching.

    The input grid caps what any network can learn, whatever its fan-in (docs/decisions/capacity-search.md).
    """
    if n_a_bits is not None:
        return (n_a_bits,)
    return SEARCHED_A_BITS if searching else SEARCHED_A_BITS[:1]


def validation_split(X, y, is_classifier: bool, random_state):
    """``(X_fit, X_val, y_fit, y_val)``: 20% held out, stratified for classifiers when every class can be."""
    stratify = None
    if is_classifier:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= 2 and len(counts) <= VALIDATION_FRACTION * len(y):
            stratify = y
    seed = random_state if isinstance(random_state, int | np.integer) else 0
    return train_test_split(X, y, test_size=VALIDATION_FRACTION, random_state=seed, stratify=stratify)


def within_tolerance(score: float, reference: float, tolerance: float, n_validation: int) -> bool:
    """Whether ``score`` is close enough to the float reference's on a validation split of this size.

    One validation row of slack on top of ``tolerance``: on small splits one row is several points, and
    the search should not buy latency to chase it.
    """
    return score >= reference - tolerance - 1.0 / max(n_validation, 1)


def search_capacity(estimator, X, y, n_outputs: int, plan, normalization, **fit_params):
    """Choose the configuration ``fit`` trains: ``(report, net)``.

    ``net`` is the chosen configuration trained again on every row (:func:`_refit`, up to
    :data:`REFIT_MAX_ROWS` rows), or, past them or if that training failed, the candidate the validation
    split measured. None when nothing was searched (``fit`` then trains on every row). Every network of
    the search trains under its own seed drawn from ``random_state``, so the choice is deterministic and
    the same whatever ``n_jobs``.
    """
    user = estimator._module_params({})
    searching = user["n_layers"] is None or user["n_accum_bits"] is None
    a_bits_options = input_bits_options(user["n_a_bits"], searching)
    probes = {
        a_bits: _probe_network(estimator, {**user, "n_a_bits": a_bits}, n_outputs)
        for a_bits in a_bits_options
    }
    probe = probes[a_bits_options[0]]
    may_round = (
        user["n_w_bits"] is None
        and user["n_accum_bits"] is None
        and estimator.rounding_threshold_bits is None
    )
    found = candidates(
        user["n_layers"],
        user["n_accum_bits"],
        a_bits_options,
        lambda a_bits: probes[a_bits].min_accumulator_bits(),
        probe.n_hidden_neurons,
        estimator.latency_budget,
        user["n_w_bits"],
        may_round,
        parse_rounding_threshold_bits(estimator.rounding_threshold_bits),
        may_narrow=_default_width(user),
    )
    classifier = is_classifier(estimator)
    split = None if len(X) < MIN_SEARCH_ROWS else validation_split(X, y, classifier, estimator.random_state)
    clip = user["input_range"] or max(INPUT_RANGES)  # what the input quantizer lets through
    folded, folding = choose_folding(user["folded_inputs"], split, classifier, normalization, clip)
    if folded and user["folded_inputs"] is None:  # an unfolded candidate keeps its parameters, so its seed
        found = [candidate.with_module_params(folded_inputs=True) for candidate in found]
    if len(found) == 1 or split is None:
        chosen = found[0]
        return CapacityReport(chosen.settings, chosen.estimated_seconds, False, folding=folding), None

    X_fit, X_val, y_fit, y_val = split
    search = SearchJobs(estimator, n_outputs, plan, normalization, (X_fit, y_fit, X_val, y_val), fit_params)
    report = CapacityReport({}, 0.0, searched=True, folding=folding)
    # The float reference first (the tolerance is measured from it), and on each input grid the search
    # may fix; then the candidates, cheapest first.
    reference = {"width": probe.n_hidden_neurons, "n_layers": probe.n_layers}
    grids = [] if user["input_range"] is not None else [(r, a) for a in a_bits_options for r in INPUT_RANGES]
    jobs = [("reference", reference), *(("reference", {**reference, "input_grid": list(g)}) for g in grids)]
    for index, (_, value, _) in search.run(jobs, estimator.n_jobs, estimator.random_state):
        if index == 0:
            report.reference_score = value
        else:
            value_range, a_bits = grids[index - 1]
            report.input_grids.append(
                {"input_range": value_range, "n_a_bits": a_bits, "validation_score": value}
            )
    if grids:
        found = [with_reference_range(candidate, report.input_grids) for candidate in found]
    trained = trained_candidates(search, found, bool(grids), estimator, report.first_candidate_ranges)
    tried = []  # (candidate, validation score, net), cheapest first
    for candidate, (net, value, _) in trained:
        report.candidates.append(
            {
                **candidate.settings,
                "estimated_seconds": candidate.estimated_seconds,
                "validation_score": value,
            }
        )
        tried.append((candidate, value, net))
        if within_tolerance(value, report.reference_score, estimator.accuracy_tolerance, len(X_val)):
            chosen, chosen_score, net = tried[-1]
            break
    else:  # none met the reference: the best, or a cheaper one within tolerance of it
        chosen, chosen_score, net = _cheapest_near_best(tried, estimator.accuracy_tolerance, len(X_val))
    report.chosen, report.estimated_seconds = chosen.settings, chosen.estimated_seconds
    if len(X) <= REFIT_MAX_ROWS:
        refit = SearchJobs(estimator, n_outputs, plan, normalization, (X, y, X_val, y_val), fit_params)
        net, report.refit = _refit(refit, chosen, chosen_score, net, estimator, len(X_val))
    return report, net


def _refit(search: SearchJobs, chosen: Candidate, chosen_score: float, searched_net, estimator, n_validation):
    """The chosen configuration trained again on every row (``search``'s data), as scikit-learn's searches
    refit their best estimator: the held-out fifth of the rows is data the final network should learn from
    (docs/decisions/refit.md). ``(net, report)``.

    The refit network has seen the validation rows, so its score there cannot measure it; it can only catch
    a training that failed: below the searched network's own score by more than ``accuracy_tolerance``
    plus twice the largest standard error of an accuracy on that many rows (:data:`REFIT_NOISE`), the
    searched network is kept.
    """
    [(_, (net, value, _))] = search.run([("refit", chosen.settings)], None, estimator.random_state)
    noise = REFIT_NOISE / np.sqrt(max(n_validation, 1))
    used = bool(value >= chosen_score - estimator.accuracy_tolerance - noise)
    return (net if used else searched_net), {"validation_score": value, "used": used}


def _default_width(user: dict) -> bool:
    """Whether the hidden width is Veil's to choose: the user's width parameters are at their defaults."""
    return (
        user["max_hidden_neurons"] is None
        and user["n_hidden_neurons_multiplier"] == DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER
        and user["min_hidden_neurons"] == DEFAULT_MIN_HIDDEN_NEURONS
    )


def _cheapest_near_best(tried: list[tuple], tolerance: float, n_validation: int) -> tuple:
    """The first (cheapest) of ``(candidate, validation score, net)`` items within ``tolerance`` of the
    best score among them: a difference the user said does not matter is not paid for in latency."""
    best = max(value for _, value, _ in tried)
    return next(item for item in tried if within_tolerance(item[1], best, tolerance, n_validation))


def _probe_network(estimator, module_params: dict, n_outputs: int):
    """A network with the user's parameters, to read its width and smallest possible budget from."""
    from veil.qat import SparseQuantNeuralNetwork

    routed = {
        name.removeprefix("module__"): value
        for name, value in estimator._routed_params().items()
        if name.startswith("module__")
    }
    # Budgets stay unset: the probe's own minimum is what it is asked for.
    params = {**module_params, "n_layers": module_params["n_layers"] or 2, **routed}
    params["n_w_bits"] = params["n_w_bits"] or DEFAULT_N_W_BITS
    params.update(n_accum_bits=None, n_accum_bits_output=None)
    return SparseQuantNeuralNetwork(input_dim=estimator.n_features_in_, n_outputs=n_outputs, **params)
