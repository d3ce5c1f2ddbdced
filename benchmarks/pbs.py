"""Micro-benchmark: amortized cost of one table lookup (programmable bootstrap) by precision, and the
latency estimate it prices: a circuit's cost in concrete's own cost model (``complexity``), converted to
seconds at the rate these lookups ran (docs/decisions/latency-estimate.md)."""

from __future__ import annotations

import time

import numpy as np

from veil import fhe

N_PARALLEL = 64


def _identity_lookup(stored: np.ndarray) -> np.ndarray:
    return stored


def _lookup_circuit(bit_width: int, execution: bool = True):
    """64 parallel identity lookups reading ``bit_width`` bits."""

    def function(q_x):
        return fhe.table_lookup(fhe.hint_bit_width(q_x, bit_width), _identity_lookup, bit_width)

    inputset = [np.full((1, N_PARALLEL), value) for value in (0, 2**bit_width - 1)]
    return fhe.compile_integer_function(function, inputset, execution=execution)


def lookup_seconds(bit_width: int, repeats: int = 3) -> float:
    """Median seconds of one lookup at ``bit_width`` bits, amortized over 64 parallel lookups."""
    circuit = _lookup_circuit(bit_width)
    circuit.keygen()
    row = np.random.default_rng(0).integers(0, 2**bit_width, size=(1, N_PARALLEL))
    circuit.encrypt_run_decrypt(row)  # warm-up
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        circuit.encrypt_run_decrypt(row)
        timings.append(time.perf_counter() - started)
    return float(np.median(timings)) / N_PARALLEL


def lookup_cost_table(bit_widths=range(2, 9)) -> dict[int, float]:
    """Seconds per lookup for each bit-width."""
    return {bits: lookup_seconds(bits) for bits in bit_widths}


def seconds_per_complexity_unit(costs: dict[int, float]) -> float:
    """Seconds per unit of concrete's ``complexity``: the median over the measured bit-widths of a
    lookup's seconds over its complexity (compiled again here, without keys, so that costs read from an
    older run convert too). A benchmark computes it once and prices every circuit with it."""
    ratios = [
        seconds / (_lookup_circuit(bits, execution=False).statistics.complexity / N_PARALLEL)
        for bits, seconds in sorted(costs.items())
    ]
    return float(np.median(ratios))


def latency_estimate(statistics, seconds_per_unit: float) -> float | None:
    """Estimated seconds per evaluation: the circuit's complexity at ``seconds_per_unit``
    (:func:`seconds_per_complexity_unit`).

    concrete's complexity prices every bootstrap (lookups and rounding) at the parameters the circuit was
    compiled with, so wider values elsewhere in a lookup's chain raise its price. ``None`` when concrete
    cannot report the complexity.
    """
    if statistics.complexity is None:
        return None
    return float(statistics.complexity * seconds_per_unit)
