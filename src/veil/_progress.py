"""Progress display for the slow steps: training epochs, compilation, key generation, runs over many rows.

Progress is not logging: it is a live line on standard error for a person watching a terminal, redrawn
in place and gone from log files. It is shown when standard error is a terminal and hidden otherwise
(pipes, files, CI logs, the workers of ``veil serve``); :func:`set_progress` is the one switch that
overrides this.

Every row loop in Veil is :func:`map_rows`, and every step with no intermediate news (a compilation, a
key generation) is a :func:`stage`: both draw with :func:`progress_bar`, the one place that decides
whether anything is shown.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from tqdm import tqdm

from ._logging import get_logger

__all__ = ["map_rows", "progress_bar", "progress_enabled", "set_progress", "stage"]

#: Seconds a step must last before its display appears: quick steps stay silent.
SLOW_STEP_SECONDS = 1.0
#: How often a stage's elapsed time is redrawn while it runs.
_TICK_SECONDS = 0.5
_STAGE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}]"

_setting: bool | None = None  # None: automatic, on when standard error is a terminal
# What the display showed, also for a log file: at DEBUG, as a display is the usual way to follow it.
_logger = get_logger(__name__)

Result = TypeVar("Result")


def set_progress(enabled: bool | None) -> bool | None:
    """Show (``True``) or hide (``False``) Veil's progress display, or let it follow the terminal (``None``).

    By default (``None``) progress is shown when standard error is a terminal and hidden otherwise.
    Log messages (:func:`veil.show_logs`) are not affected.

    Parameters
    ----------
    enabled : bool or None
        ``False`` hides every progress display, ``True`` shows it even when standard error is not a
        terminal (a notebook, a redirected file), ``None`` restores the default.

    Returns
    -------
    bool or None
        The previous setting, to restore it later.

    Examples
    --------
    >>> import veil
    >>> previous = veil.set_progress(False)  # quiet from here on
    >>> _ = veil.set_progress(previous)
    """
    global _setting
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True, False or None, got {enabled!r}")
    previous, _setting = _setting, enabled
    return previous


def progress_enabled() -> bool:
    """Whether a progress display would be shown now (see :func:`set_progress`)."""
    if _setting is not None:
        return _setting
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def progress_bar(total: int | None, label: str, unit: str = "row", shown: bool = True, **options) -> tqdm:
    """A tqdm bar on standard error, disabled (drawing nothing, costing nothing) when progress is off.

    ``shown=False`` disables it whatever the setting; ``options`` go to :class:`tqdm.tqdm` (``delay``,
    ``leave``, ``bar_format``...).
    """
    return tqdm(
        total=total,
        desc=label,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        disable=not (shown and progress_enabled()),
        **options,
    )


def map_rows(
    run: Callable[[Sequence], Result],
    rows: Sequence,
    label: str | None,
    rows_per_call: int = 1,
    delay: float = 0.0,
) -> list[Result]:
    """``run`` on consecutive slices of ``rows_per_call`` rows, in order, counting rows on a progress bar.

    Parameters
    ----------
    run : callable
        Takes a slice of ``rows`` (numpy rows, or a list of ciphertexts) and returns its result.
    rows : sequence
        Anything ``len`` and slicing work on.
    label : str or None
        What the bar says; ``None`` never shows one (the service's workers, whose terminal belongs to the
        service's log). A run that takes a single call shows none either: there is nothing to count.
    rows_per_call : int
        Rows given to ``run`` at once (the last slice may be shorter).
    delay : float
        Seconds before the bar appears, so that fast runs stay quiet.

    Returns
    -------
    list
        ``run``'s results, one per slice.
    """
    n_rows = len(rows)
    shown = label is not None and n_rows > rows_per_call
    results = []
    started = time.perf_counter()
    with progress_bar(n_rows, label or "", shown=shown, delay=delay) as bar:
        for start in range(0, n_rows, rows_per_call):
            piece = rows[start : start + rows_per_call]
            results.append(run(piece))
            bar.update(len(piece))
    _log_if_slow(label if shown else None, f"{n_rows} rows", started, delay)
    return results


@contextmanager
def stage(label: str, steps: int = 1, unit: str = "step", delay: float = 0.0) -> Iterator[Callable[[], None]]:
    """Display ``label``, the steps done so far and the elapsed time while the block runs.

    For work that reports nothing until it ends (compiling, generating keys): a background thread redraws
    the elapsed time every half second. The block may call the yielded function after each of its
    ``steps``; every step counts as done when the block ends normally. With ``delay``, a block that ends
    sooner shows nothing.
    """
    # miniters=0: every update may redraw (tqdm would otherwise learn to skip the ticker's empty updates).
    bar = progress_bar(steps, label, unit=unit, bar_format=_STAGE_FORMAT, delay=delay, miniters=0)
    lock = threading.Lock()
    finished = threading.Event()

    def advance(n: int = 1) -> None:
        with lock:
            bar.update(n)

    def tick() -> None:
        while not finished.wait(_TICK_SECONDS):
            advance(0)  # redraws the elapsed time, once past the delay

    ticker = threading.Thread(target=tick, daemon=True)
    if not bar.disable:
        ticker.start()
    started = time.perf_counter()
    try:
        yield advance
        finished.set()
        advance(steps - bar.n)
    finally:
        finished.set()
        if ticker.is_alive():
            ticker.join()
        bar.close()
    _log_if_slow(label, f"{steps} {unit}", started, delay)


def _log_if_slow(label: str | None, done: str, started: float, delay: float) -> None:
    seconds = time.perf_counter() - started
    if label is not None and seconds >= delay:
        _logger.debug("%s: %s in %.1f s", label, done, seconds)
