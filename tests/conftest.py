"""Shared test setup.

concrete-python's runtime resets the process exit status to 0 when it tears down after an encrypted run,
so pytest would report success with failing tests. The session's real status is recorded and the
process leaves with it, before that teardown can run.
"""

import os
import sys

import pytest
import torch

_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status and not os.environ.get("VEIL_TEST_KEEP_EXIT"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])


@pytest.fixture(scope="session")
def tiny():
    """Parameters of the smallest estimator worth testing: 2 layers of 2-bit weights and activations, 5-bit
    accumulators, 5 epochs (a second to fit). A fresh dict per use, so a test may extend it."""
    return {
        "module__n_layers": 2,
        "module__n_w_bits": 2,
        "module__n_a_bits": 2,
        "module__n_accum_bits": 5,
        "max_epochs": 5,
        "batch_size": 16,
        "lr": 0.05,
        "random_state": 0,
    }


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """The networks under test are tiny: torch's intra-op threads only add overhead (ten times slower on a
    busy 2-core machine). Training already runs on one thread; this covers inference and export too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
