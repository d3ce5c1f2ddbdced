"""``latency_budget`` checked on the circuit the fitted network compiles to.

The capacity search prices its candidates before any training (``_ladder``). concrete prices the circuit
the trained network compiles to, and a rounded layer's accumulators can reach a bit wider than its price
assumed: 32 neurons priced 2.98 s compiled at up to 3.04 s (docs/decisions/latency-estimate.md). So once
``fit`` has built the integer model of a searched network priced near the budget, the circuit is compiled
without keys and its latency estimated from concrete's cost model. While that estimate exceeds the budget,
the hidden neurons whose removal raises the network's loss on the training rows least leave the integer
model (docs/decisions/compiled-latency-check.md).
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
from scipy.special import log_softmax
from sklearn.base import is_classifier

from veil import fhe
from veil._warnings import user_stacklevel
from veil.errors import CapacityWarning
from veil.quantization._idle_neurons import hidden_neurons, without_neurons

from ._capacity import default_width

__all__ = [
    "CHECKED_SHARE",
    "SECONDS_PER_COMPLEXITY_UNIT",
    "checks_compiled_latency",
    "compiled_seconds",
    "keep_within_budget",
    "training_loss",
]

#: Seconds per unit of concrete's cost model (``FheCircuit.statistics.complexity``) on the machine class
#: of ``LOOKUP_SECONDS``: its lookup costs of 2026-11-23 (``benchmarks/results/2026-11-23.json``) converted
#: by ``benchmarks.pbs.seconds_per_complexity_unit``, the rate ``make bench-accuracy`` prices circuits at.
SECONDS_PER_COMPLEXITY_UNIT = 1.1548941e-10
#: A network priced below this share of the budget is not compiled: concrete's estimates of the suite's
#: circuits came to at most 1.45 times the search's price (docs/decisions/latency-estimate.md).
CHECKED_SHARE = 1 / 1.5
#: Training rows, spread over them, on which each neuron's removal is scored.
MAX_SCORED_ROWS = 10_000
#: Compilations after the first before the check stops; each removes as many neurons as the excess
#: is estimated to need, so one is usually enough.
MAX_ROUNDS = 4


def checks_compiled_latency(estimator, report) -> bool:
    """Whether ``fit`` checks the compiled circuit against ``latency_budget``: the search chose the network,
    its width was Veil's to choose (a width the user set is never changed), and it was priced at
    :data:`CHECKED_SHARE` of the budget or more."""
    budget = estimator.latency_budget
    return bool(
        report.searched
        and budget is not None
        and report.estimated_seconds >= CHECKED_SHARE * budget
        and default_width(estimator._module_params({}))
    )


def compiled_seconds(graph, q_x: np.ndarray) -> float | None:
    """Estimated encrypted seconds per row of ``graph`` compiled on the encoded rows ``q_x`` (one sample
    per row, as :meth:`QuantizedModule.compile` traces them); None when concrete reports no cost."""
    samples = [q_x[i : i + 1] for i in range(q_x.shape[0])]
    circuit = fhe.compile_integer_function(graph, samples, execution=False)
    complexity = circuit.statistics.complexity
    return None if complexity is None else float(complexity) * SECONDS_PER_COMPLEXITY_UNIT


def training_loss(estimator):
    """``loss(outputs, y)`` of ``estimator``'s kind, from a model's decoded outputs: log-loss of the
    logits for a classifier (``y``: class indices), squared error for a regressor."""
    if is_classifier(estimator):
        return lambda outputs, y: float(-np.mean(log_softmax(outputs, axis=1)[np.arange(len(y)), y]))
    return lambda outputs, y: float(np.mean((outputs - np.reshape(y, (len(y), -1))) ** 2))


def keep_within_budget(module, X: np.ndarray, y: np.ndarray, budget: float, loss) -> tuple[object, dict]:
    """``(module, report)``: ``module`` (a ``QuantizedModule``), or a copy without the hidden neurons that
    keep its compiled estimate over ``budget`` seconds, and what was measured.

    The neurons removed are those whose removal alone raises ``loss(outputs, y)`` (:func:`training_loss`)
    least on the rows ``X, y``. ``report`` holds ``estimated_seconds`` (the estimate after each
    compilation) and ``removed_neurons`` (how many hidden neurons left the integer model).
    """
    q_x = module.quantize_input(X)
    graph = module.graph
    seconds = compiled_seconds(graph, q_x)
    report = {"estimated_seconds": [seconds], "removed_neurons": 0}
    scored = np.unique(np.linspace(0, len(q_x) - 1, min(len(q_x), MAX_SCORED_ROWS)).astype(int))
    for _ in range(MAX_ROUNDS):
        neurons = hidden_neurons(graph)
        if seconds is None or seconds <= budget or len(neurons) <= 1:
            break
        # Every hidden neuron costs about the same (one lookup and its rounding): remove as many as the
        # excess is worth at the circuit's average cost a neuron.
        count = min(math.ceil((seconds - budget) / (seconds / len(neurons))), len(neurons) - 1)
        ranked = _least_costly(module, graph, neurons, q_x[scored], np.asarray(y)[scored], loss)
        graph = without_neurons(graph, ranked[:count])
        report["removed_neurons"] += count
        seconds = compiled_seconds(graph, q_x)
        report["estimated_seconds"].append(seconds)
    if seconds is not None and seconds > budget:
        warnings.warn(
            f"the compiled circuit is estimated at {seconds:.2f} s a row after removing "
            f"{report['removed_neurons']} hidden neurons, still over latency_budget={budget:g}",
            CapacityWarning,
            stacklevel=user_stacklevel(),
        )
    if graph is module.graph:
        return module, report
    trimmed = copy.copy(module)
    trimmed.graph, trimmed.fhe_circuit, trimmed._simulation_circuit = graph, None, None
    return trimmed, report


def _least_costly(module, graph, neurons: list[tuple[int, int]], q_x, y, loss) -> list[tuple[int, int]]:
    """``neurons`` ordered by ``loss`` on ``q_x, y`` once each alone is removed, least first; ties keep the
    graph's order."""
    after = [loss(module.dequantize_output(without_neurons(graph, [neuron])(q_x)), y) for neuron in neurons]
    return [neurons[i] for i in np.argsort(after, kind="stable")]
