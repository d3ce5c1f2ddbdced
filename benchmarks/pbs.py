"""Micro-benchmark: amortized cost of one table lookup (programmable bootstrap) by precision."""

from __future__ import annotations

import time

import numpy as np

from veil import fhe

N_PARALLEL = 64


def _identity_lookup(stored: np.ndarray) -> np.ndarray:
    return stored


def lookup_seconds(bit_width: int, repeats: int = 3) -> float:
    """Median seconds of one lookup at ``bit_width`` bits, amortized over 64 parallel lookups."""
    high = 2**bit_width - 1

    def function(q_x):
        return fhe.table_lookup(fhe.hint_bit_width(q_x, bit_width), _identity_lookup, bit_width)

    inputset = [np.full((1, N_PARALLEL), value) for value in (0, high)]
    circuit = fhe.compile_integer_function(function, inputset)
    circuit.keygen()
    row = np.random.default_rng(0).integers(0, high + 1, size=(1, N_PARALLEL))
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


def floor_seconds(statistics, costs: dict[int, float]) -> float | None:
    """The least an evaluation can cost: its lookups priced at the micro-benchmark's rate.

    Rounding bootstraps, when there are any, are priced as the cheapest lookup: a lower bound. ``None``
    when the floor cannot be priced: a lookup wider than the measured ones, or a bootstrap count concrete
    could not report.
    """
    lookups = statistics.table_lookups_by_bit_width
    if statistics.rounding_bootstrap_count is None or not set(lookups) <= set(costs):
        return None
    priced = sum(count * costs[bits] for bits, count in lookups.items())
    return float(priced + statistics.rounding_bootstrap_count * min(costs.values()))
