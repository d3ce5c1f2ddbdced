"""The trainings of the capacity search, one after the other or several at once (``n_jobs``).

Each network (the float reference, then each candidate) trains under its own seed, drawn from
``random_state`` and its own configuration before any training starts, so what it learns does not
depend on which process trains it, on what trained before it, or on which other candidates the search
holds: ``n_jobs`` changes the wall time of ``fit``, never its outcome, and adding a candidate to the
search leaves the others' networks as they were. Jobs run
in batches of ``n_jobs`` in the search's order, and the search stops taking batches once it has chosen.
"""

from __future__ import annotations

import json
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import is_classifier
from sklearn.utils import check_random_state

from veil._progress import progress_bar, set_progress
from veil._warnings import user_stacklevel

from ._torch_state import NetSnapshot, one_torch_thread, seeded_torch

__all__ = ["SearchJobs", "Trained", "network_seeds"]


class Trained(NamedTuple):
    """One trained network of the search (None for the float reference) and what the validation rows
    measured of it: its score (accuracy or R²) and its loss (:func:`~._training.measure`)."""

    net: object
    score: float
    loss: float


@dataclass
class SearchJobs:
    """Trains the networks of one capacity search on the same split.

    Attributes
    ----------
    estimator : BaseQuantizedNeuralNet
        The estimator being fitted (its parameters build every network).
    n_outputs : int
        Classes or regression targets.
    plan : TrainingPlan
        Batch size and epochs resolved by ``fit``.
    normalization : tuple of ndarray
        The per-feature ``(offset, scale)`` every network applies to its inputs.
    data : tuple of ndarray
        ``(X_fit, y_fit, X_val, y_val)``: the rows to train on and the rows that measure.
    fit_params : dict
        Passed to each training (skorch's ``partial_fit``).
    """

    estimator: object
    n_outputs: int
    plan: object
    normalization: tuple
    data: tuple
    fit_params: dict

    def run(self, jobs: list[tuple[str, dict]], n_jobs: int | None, random_state) -> Iterator[tuple]:
        """Yield ``(index, Trained)`` per job, in order.

        ``jobs`` holds ``("reference", {"width", "n_layers"[, "input_grid"]})``, ``("candidate",
        module_params)`` or ``("refit", module_params)`` items (a refit: a candidate under a seed of its
        own).
        Up to ``n_jobs`` (joblib's convention: None is 1, -1 every core) train at once in worker processes.
        """
        seeds = network_seeds(jobs, random_state)
        workers = max(1, min(effective_n_jobs(n_jobs), len(jobs)))
        bar = progress_bar(len(jobs), "capacity search", unit="network", shown=workers > 1)
        try:
            for start in range(0, len(jobs), workers):
                batch = range(start, min(start + workers, len(jobs)))
                results = self._train_batch(jobs, seeds, batch)
                for index, (net, value, loss, caught) in zip(batch, results, strict=True):
                    for message, category in caught:  # from a worker process: shown at the user's line
                        warnings.warn(message, category, stacklevel=user_stacklevel())
                    yield index, Trained(net.restore() if isinstance(net, NetSnapshot) else net, value, loss)
                bar.update(len(batch))
        finally:
            bar.close()

    def _train_batch(self, jobs, seeds, batch) -> list:
        if len(batch) == 1:
            return [self.train_one(*jobs[batch[0]], int(seeds[batch[0]]), in_worker=False)]
        return Parallel(n_jobs=len(batch))(
            delayed(self.train_one)(*jobs[index], int(seeds[index]), in_worker=True) for index in batch
        )

    def train_one(self, kind: str, params: dict, seed: int, in_worker: bool) -> tuple:
        """Train one network under ``seed``: ``(net, validation_score, validation_loss, warnings)``.

        In a worker process the net travels back as a :class:`NetSnapshot` (Brevitas layers do not
        pickle) and its warnings as ``(message, category)`` pairs; the worker draws no progress display.
        """
        from ._training import measure, new_quantized_net, new_reference_net, train

        estimator, (X_fit, y_fit, X_val, y_val) = self.estimator, self.data
        if in_worker:
            set_progress(False)
        with warnings.catch_warnings(record=in_worker) as caught, seeded_torch(seed), one_torch_thread():
            if in_worker:
                warnings.simplefilter("always")
            if kind == "reference":
                grid = params.get("input_grid")
                net = new_reference_net(
                    estimator,
                    self.n_outputs,
                    params["width"],
                    params["n_layers"],
                    self.plan,
                    None if grid is None else tuple(grid),
                )
            else:
                net = new_quantized_net(
                    estimator, self.n_outputs, estimator._module_params(params), self.plan
                )
            rounding = None if kind == "reference" else estimator._rounding_threshold_bits(params)
            train(net, X_fit, y_fit, self.normalization, rounding, **self.fit_params)
            if kind != "reference":
                estimator.on_train_end(net, X_fit, y_fit)
            value, loss = measure(net, X_val, y_val, is_classifier(estimator))
        if kind == "reference":
            net = None  # only its score is used
        elif in_worker:
            net = NetSnapshot.take(net)
        return net, value, loss, [(w.message, w.category) for w in caught or ()]


def network_seeds(jobs: list[tuple[str, dict]], random_state) -> list[int]:
    """One torch seed per job: ``random_state``'s draw mixed with the job's kind and parameters."""
    drawn = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    keys = [zlib.crc32(json.dumps([kind, params], sort_keys=True).encode()) for kind, params in jobs]
    return [int(np.random.SeedSequence([drawn, key]).generate_state(1)[0]) for key in keys]
