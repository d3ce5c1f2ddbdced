"""Warnings that point at the user's line, however deep inside Veil (or the libraries it calls) they start."""

from __future__ import annotations

import sys

__all__ = ["user_stacklevel"]

# Frames of these packages sit between the user's call and a warning: Veil's own, scikit-learn's fit
# wrappers, skorch's training loop and torch's module calls.
_LIBRARY_PACKAGES = frozenset({"veil", "sklearn", "skorch", "torch"})


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the calling function that names the user's line.

    Counts outward from the caller to the first frame whose module is outside :data:`_LIBRARY_PACKAGES`.
    A fixed ``stacklevel`` breaks whenever the call path changes depth (``fit`` with or without the
    capacity search, say).
    """
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and _package(frame) in _LIBRARY_PACKAGES:
        frame, level = frame.f_back, level + 1
    return level


def _package(frame) -> str:
    return frame.f_globals.get("__name__", "").partition(".")[0]
