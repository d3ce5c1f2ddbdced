"""Leave a process with its real exit status, whatever concrete-python's teardown does."""

from __future__ import annotations

import atexit
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from ._third_party import import_quietly

# The status of a command line that was given something it cannot use (argparse's own convention).
USAGE_ERROR_STATUS = 2


def exit_with_status(
    run: Callable[[], None], name: str, user_errors: tuple[type[Exception], ...] = ()
) -> NoReturn:
    """Call ``run``, then exit through ``os._exit`` with the status it earned.

    0 if it returned; ``n`` if it called ``sys.exit(n)``; 2 and one line on standard error,
    ``"<name>: error: <message>"``, if it raised one of ``user_errors`` (a missing file, a bad value: the
    message says what to fix, a traceback would only hide it); 1 and the traceback for any other exception.
    ``os._exit`` skips the interpreter's teardown, where concrete-python's runtime would reset the status to 0
    and a failure would look like success to ``make``, CI or a supervisor.
    """
    try:
        run()
        status = 0
    except SystemExit as exit_request:
        status = _status_of(exit_request)
    except user_errors as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        status = USAGE_ERROR_STATUS
    except Exception:  # noqa: BLE001 - every failure must reach the exit status
        print(f"{name} failed:", file=sys.stderr)
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _status_of(exit_request: SystemExit) -> int:
    """The status Python itself gives ``sys.exit(code)``: 0 for None, the int, else 1 after printing it."""
    if exit_request.code is None:
        return 0
    if isinstance(exit_request.code, int):
        return exit_request.code
    print(exit_request.code, file=sys.stderr)
    return 1


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
    # A concrete release without this handler has nothing to remove (tests/test_exit_status_user.py says
    # whether the status is kept then); importing Veil must not fail for it.
    terminate_runtime = getattr(compiler, "_terminate_df_parallelization", None)
    if terminate_runtime is not None:
        atexit.unregister(terminate_runtime)
