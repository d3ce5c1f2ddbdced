"""The input range of the search's candidates: ``±input_range`` normalized units on the input grid.

A narrow range is finer and clips more. Which one a network can use depends on the labels and on the
network: a float MLP on the snapped inputs tells what a network of ample capacity can learn from each
grid, and chooses for every candidate; the cheapest candidate (ternary weights, about two inputs per
neuron) measures itself at every range, as it is the one small data keeps
(docs/decisions/input-range-by-loss.md).
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["INPUT_RANGES", "trained_candidates", "with_reference_range"]

#: Input ranges (normalized units) the search chooses from, for each input bit-width: a learned input
#: scale lands on one of two powers of two by chance (docs/decisions/learned-input-scale.md).
INPUT_RANGES = (2.0, 3.0, 4.0)


def with_reference_range(candidate, input_grids: list[dict]):
    """``candidate`` with the input range whose grid, at its input bits, the float reference scored best
    on (the narrowest of equal scores: the finer grid)."""
    scored = [grid for grid in input_grids if grid["n_a_bits"] == candidate.module_params["n_a_bits"]]
    best = max(scored, key=lambda grid: (grid["validation_score"], -grid["input_range"]))
    return candidate.with_module_params(input_range=best["input_range"])


def trained_candidates(search, found: list, ranging: bool, estimator, first_ranges: list) -> Iterator[tuple]:
    """Yield ``(candidate, Trained)`` for the candidates ``found``, in order, trained by ``search`` in
    batches of ``estimator.n_jobs``.

    With ``ranging`` (the user set no input range), the first (cheapest) candidate trains at every range
    of :data:`INPUT_RANGES` and the one of least validation loss stands for it; each range's measurement
    is appended to ``first_ranges``. The loss decides, not the score: on a small split the three networks'
    scores tie or differ by a row.
    """
    rest = found
    if ranging:
        probes = [found[0].with_module_params(input_range=value_range) for value_range in INPUT_RANGES]
        measured = [trained for _, trained in _run(search, probes, estimator)]
        first_ranges.extend(
            {"input_range": value_range, "validation_score": trained.score, "validation_loss": trained.loss}
            for value_range, trained in zip(INPUT_RANGES, measured, strict=True)
        )
        best = min(range(len(probes)), key=lambda i: (measured[i].loss, INPUT_RANGES[i]))
        yield probes[best], measured[best]
        rest = found[1:]
    for index, trained in _run(search, rest, estimator):
        yield rest[index], trained


def _run(search, candidates: list, estimator) -> Iterator[tuple]:
    jobs = [("candidate", candidate.settings) for candidate in candidates]
    return search.run(jobs, estimator.n_jobs, estimator.random_state)
