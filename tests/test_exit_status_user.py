"""A user's script keeps its exit status after an FHE run, though concrete's teardown would reset it to 0."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = """
import sys

import numpy as np
import torch

from veil.torch import compile_torch_model

torch.manual_seed(0)
X = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
module = compile_torch_model(torch.nn.Linear(2, 2), X, n_bits=2)
print("prediction", module.forward(X[:2], fhe="{mode}").shape)
{ending}
"""


def _run_script(tmp_path: Path, mode: str, ending: str) -> subprocess.CompletedProcess:
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT.format(mode=mode, ending=textwrap.dedent(ending)))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=180
    )


@pytest.mark.parametrize(
    ("mode", "ending", "status"),
    [
        ("simulate", "raise RuntimeError('failed after the FHE run')", 1),
        ("simulate", "sys.exit(3)", 3),
        ("simulate", "", 0),
        ("execute", "raise SystemExit(4)", 4),
    ],
)
def test_script_keeps_its_exit_status_after_an_fhe_run(tmp_path: Path, mode: str, ending: str, status: int):
    result = _run_script(tmp_path, mode, ending)
    assert "prediction (2, 2)" in result.stdout, result.stderr
    assert result.returncode == status, result.stderr
    if status == 1:
        assert "RuntimeError: failed after the FHE run" in result.stderr  # the traceback is printed


def test_without_the_guard_concrete_resets_the_status(tmp_path: Path):
    """The trap the guard removes: re-registering concrete's handler brings the status 0 back. If this
    fails, concrete no longer resets the status and the guard can go."""
    ending = """
    import atexit
    import concrete.compiler
    atexit.register(concrete.compiler._terminate_df_parallelization)
    sys.exit(3)
    """
    assert _run_script(tmp_path, "simulate", ending).returncode == 0
