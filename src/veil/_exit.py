"""Leave a process with its real exit status, whatever concrete-python's teardown does."""

from __future__ import annotations

import atexit
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from ._third_party import import_quietly


def exit_with_status(run: Callable[[], None], name: str) -> NoReturn:
    """Call ``run``, then exit through ``os._exit``: 0 if it returned, 1 if it raised (after reporting it).

    After an encrypted run, concrete-python's runtime resets the process exit status to 0 at
    interpreter teardown, so a failure would look like success to ``make``, CI or a supervisor.
    ``os._exit`` skips that teardown.
    """
    status = 0
    try:
        run()
    except Exception:  # noqa: BLE001 - every failure must reach the exit status
        print(f"{name} failed:", file=sys.stderr)
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def keep_exit_status_after_concrete() -> None:
    """Let a program that uses concrete-python leave with its own exit status.

    At import, concrete-python registers an ``atexit`` handler that shuts its runtime down; once a circuit
    has been compiled, that handler ends the process with status 0, before Python reports the real one.
    A script that raised, or called ``sys.exit(3)``, would look successful to a shell, ``make`` or CI.
    Removing the handler lets Python finish as usual: status 1 and the traceback for an uncaught
    exception, ``n`` for ``sys.exit(n)``, 0 otherwise (the runtime's threads end with the process).
    Reproduction: ``docs/concrete-exit-status.md``.
    """
    compiler = import_quietly("concrete.compiler")
    atexit.unregister(compiler._terminate_df_parallelization)
