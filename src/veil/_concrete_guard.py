"""Imported by :mod:`veil.fhe` before its modules import concrete-python.

concrete is then imported without its import-time warnings, and scripts that use it keep their exit status
(see :func:`veil._exit.keep_exit_status_after_concrete`).
"""

from ._exit import keep_exit_status_after_concrete

keep_exit_status_after_concrete()
