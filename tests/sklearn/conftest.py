"""Fixtures shared by the estimator tests."""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning


@pytest.fixture
def quiet_short_training():
    """Silence the ConvergenceWarning of trainings kept short on purpose: the tests that use it check a
    mechanism, not accuracy (``make bench-accuracy`` measures that)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
