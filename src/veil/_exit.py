"""Leave a process with its real exit status, whatever concrete-python's teardown does."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


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
