"""How much capacity the data needs: a search over network configurations, cheapest first.

``fit`` holds out a validation split, trains a float MLP on the rest as the reference (and on the inputs
snapped to each input grid it may fix, to choose the input range: ``_input_ranges``), then trains the
candidate configurations (``_ladder``: depth, accumulator budget, rounding, width) in increasing
estimated latency and keeps the first whose validation score is within ``accuracy_tolerance``
of the reference's, else the cheapest within ``accuracy_tolerance`` of the best one. Before any of it,
the validation split decides whether the candidates read folded inputs (``_folding``); after it, on small
data, the chosen configuration trains again on every row (:func:`_refit`). Parameters the user set are
never searched: a candidate only fills in what was left to ``None``. Measurements behind the search:
docs/decisions/capacity-search.md.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split

from veil._warnings import user_stacklevel
from veil.errors import CapacityWarning
from veil.qat._defaults import (
    DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER,
    DEFAULT_N_W_BITS,
)
from veil.quantization import parse_rounding_threshold_bits

from ._folding import choose_folding
from ._input_ranges import INPUT_RANGES, trained_candidates, with_reference_range
from ._ladder import Candidate, candidates, input_bits_options
from ._params import VALIDATION_FRACTION
from ._search_jobs import SearchJobs

__all__ = ["CapacityReport", "default_width", "search_capacity"]

#: Fewer rows than this and a validation split says nothing: the cheapest candidate is used.
MIN_SEARCH_ROWS = 60
#: How far below the searched network's validation score a refit may land before it counts as a failed
#: training, in units of 1/sqrt(validation rows): two standard errors of an accuracy near one half. Two
#: networks of the same configuration differ by their seeds (and the refit saw those rows).
REFIT_NOISE = 1.0
#: Up to this many rows the chosen configuration trains again on every row. Its effect on test scores was
#: a seed's spread on either side of it (docs/decisions/refit.md); past it one more training cost 8-38% of
#: ``fit``, under it a few seconds.
REFIT_MAX_ROWS = 2000


@dataclass
class CapacityReport:
    """What the search measured; the fitted estimator's ``capacity_`` holds its ``to_dict()``.

    ``input_grids``: the float reference's validation score on each input grid (range and bits) tried.
    ``first_candidate_ranges``: the first candidate's validation score and loss at each input range.
    ``folding``: the linear models' scores that decided ``folded_inputs`` (None: not measured).
    ``refit``: the chosen configuration trained again on every row, its score on the validation rows (which
    it saw) and whether it replaced the searched network (None: nothing searched, or more rows than
    ``REFIT_MAX_ROWS``).
    ``latency_check``: the compiled circuit's estimated seconds a row, after each compilation, and how many
    hidden neurons left the integer model to bring it within ``latency_budget`` (None: not checked;
    ``_latency_check``).
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
    latency_check: dict | None = None

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
        may_narrow=default_width(user),
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
        _warn_short_of_reference(estimator, report.reference_score, tried)
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


def default_width(user: dict) -> bool:
    """Whether the hidden width is Veil's to choose: the user's width parameters are at their defaults."""
    return (
        user["max_hidden_neurons"] is None
        and user["n_hidden_neurons_multiplier"] == DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER
        and user["min_hidden_neurons"] is None
    )


def _cheapest_near_best(tried: list[tuple], tolerance: float, n_validation: int) -> tuple:
    """The first (cheapest) of ``(candidate, validation score, net)`` items within ``tolerance`` of the
    best score among them: a difference the user said does not matter is not paid for in latency."""
    best = max(value for _, value, _ in tried)
    return next(item for item in tried if within_tolerance(item[1], best, tolerance, n_validation))


def _warn_short_of_reference(estimator, reference: float, tried: list[tuple]) -> None:
    """Tell the user that no candidate of ``tried`` came near the float reference, and what would help."""
    candidate, best, _ = max(tried, key=lambda item: item[1])
    budget = estimator.latency_budget
    hint = (
        "" if budget is None else f"; a larger latency_budget (now {budget:g} s) lets it try bigger networks"
    )
    warnings.warn(
        f"{type(estimator).__name__}: no configuration the capacity search tried came within "
        f"accuracy_tolerance={estimator.accuracy_tolerance:g} of a float MLP on the validation split "
        f"(best {best:.3f}, estimated {candidate.estimated_seconds:.2f} s a row, against {reference:.3f})"
        f"{hint}; capacity_['candidates'] lists what each scored",
        CapacityWarning,
        stacklevel=user_stacklevel(),
    )


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
