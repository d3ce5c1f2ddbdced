"""A failing test after an encrypted run must fail the pytest process (concrete resets the status to 0)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FAILING_AFTER_ENCRYPTION = """
import numpy as np
from concrete import fhe

def test_fails_after_an_encrypted_run():
    circuit = fhe.Compiler(lambda x: x + 1, {"x": "encrypted"}).compile(range(4))
    assert circuit.encrypt_run_decrypt(2) == 3
    assert False, "deliberate failure"
"""


@pytest.mark.parametrize("guarded", [True, False])
def test_failure_after_encrypted_run_sets_the_exit_status(tmp_path: Path, guarded: bool):
    shutil.copy(Path(__file__).parents[1] / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_deliberate.py").write_text(FAILING_AFTER_ENCRYPTION)
    env = dict(os.environ)
    if not guarded:
        env["VEIL_TEST_KEEP_EXIT"] = "1"  # switch the guard off to show the trap it protects from
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert "1 failed" in result.stdout
    if guarded:
        assert result.returncode == 1
    else:
        assert result.returncode == 0, "concrete-python no longer resets the exit status: drop the guard"
