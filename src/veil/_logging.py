"""Veil's messages go through :mod:`logging`, under the ``veil`` logger; the application decides where.

As a library, Veil only attaches a :class:`logging.NullHandler` (the convention of the standard library's
logging HOWTO): nothing is shown unless the application configures logging, for example with
:func:`show_logs` or ``logging.basicConfig(level=logging.INFO)``.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOGGER_NAME = "veil"
_FORMAT = "%(asctime)s veil: %(message)s"
_TIME_FORMAT = "%H:%M:%S"


class _ShownLogs(logging.StreamHandler):
    """The handler :func:`show_logs` adds, told apart from the application's own handlers."""


def get_logger(module_name: str) -> logging.Logger:
    """The logger of one Veil module: pass ``__name__``, which already starts with ``veil.``."""
    if module_name != LOGGER_NAME and not module_name.startswith(f"{LOGGER_NAME}."):
        raise ValueError(f"module_name must be a Veil module's __name__ (veil.*), got {module_name!r}")
    return logging.getLogger(module_name)


def show_logs(level: int | str = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Print Veil's log messages of ``level`` and above on ``stream`` (standard error by default).

    For scripts and command lines that do not configure :mod:`logging` themselves. Calling it again
    replaces the handler it added before instead of adding a second one.

    Parameters
    ----------
    level : int or str
        The lowest level shown: ``logging.INFO`` (progress) or ``"DEBUG"``, ``"WARNING"``...
    stream : file object, optional
        Where the lines go; ``sys.stderr`` when omitted.

    Returns
    -------
    logging.Handler
        The handler added to the ``veil`` logger (remove it with ``logging.getLogger("veil").removeHandler``).
    """
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, _ShownLogs)]:
        logger.removeHandler(handler)
    handler = _ShownLogs(sys.stderr if stream is None else stream)
    handler.setFormatter(logging.Formatter(_FORMAT, _TIME_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


# Imported by veil/__init__.py: a library's logger gets a NullHandler, so that Python's last-resort handler
# does not print Veil's warnings and errors a second time when the application configured no logging.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
