"""The input range of the search's candidates: measured on the cheapest candidate of each input bit-width.

The input quantizer's grid spans ``±input_range`` normalized units at ``n_a_bits``: a narrow range is finer
and clips more. Which one a network can use depends on the data and on the network itself (its ternary
weights, its few inputs per neuron), so the search measures it on the quantized network it would pick,
not on a float one (docs/decisions/input-range-by-loss.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

__all__ = ["INPUT_RANGES", "trained_candidates"]

#: Input ranges (normalized units) the search chooses from, for each input bit-width: a learned input
#: scale lands on one of two powers of two by chance (docs/decisions/learned-input-scale.md).
INPUT_RANGES = (2.0, 3.0, 4.0)


def trained_candidates(search, found: list, ranging: bool, estimator, input_grids: list) -> Iterator[tuple]:
    """Yield ``(candidate, Trained)`` for the candidates ``found``, in order, trained by ``search`` in
    batches of ``estimator.n_jobs``.

    With ``ranging`` (the user set no input range), the first (cheapest) candidate of each input
    bit-width trains at every range of :data:`INPUT_RANGES`; the one of least validation loss stands for
    it, and its range is set on that bit-width's later candidates. Each range's measurement is appended
    to ``input_grids``. The loss decides, not the score: on a small split scores tie or differ by a row.
    """
    ranges = {}  # input bits -> the range chosen for them
    start = 0
    while start < len(found):
        a_bits = _input_bits(found[start])
        if ranging and a_bits not in ranges:
            probes = [_with_range(found[start], value_range) for value_range in INPUT_RANGES]
            measured = [trained for _, trained in _run(search, probes, estimator)]
            input_grids.extend(
                {
                    "input_range": value_range,
                    "n_a_bits": a_bits,
                    "validation_score": m.score,
                    "validation_loss": m.loss,
                }
                for value_range, m in zip(INPUT_RANGES, measured, strict=True)
            )
            best = min(range(len(probes)), key=lambda i: (measured[i].loss, INPUT_RANGES[i]))
            ranges[a_bits] = INPUT_RANGES[best]
            yield probes[best], measured[best]
            start += 1
            continue
        # Up to the next candidate whose input bit-width has no range yet, the candidates train in batches.
        unranged = [i for i in range(start, len(found)) if ranging and _input_bits(found[i]) not in ranges]
        stop = unranged[0] if unranged else len(found)
        batch = [_with_range(c, ranges[_input_bits(c)]) if ranging else c for c in found[start:stop]]
        for index, trained in _run(search, batch, estimator):
            yield batch[index], trained
        start = stop


def _run(search, candidates: list, estimator) -> Iterator[tuple]:
    jobs = [("candidate", candidate.settings) for candidate in candidates]
    return search.run(jobs, estimator.n_jobs, estimator.random_state)


def _input_bits(candidate) -> int:
    return candidate.module_params["n_a_bits"]


def _with_range(candidate, value_range: float):
    return replace(candidate, module_params={**candidate.module_params, "input_range": value_range})
