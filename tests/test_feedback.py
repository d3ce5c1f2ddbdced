"""What Veil tells its user: log messages under the ``veil`` logger, no import noise, one-line CLI errors."""

import ast
import io
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import veil
from veil._logging import get_logger
from veil._third_party import import_quietly

SRC = Path(veil.__file__).parent
# Applications, not library code: they talk to their user on standard output and error.
ENTRY_POINTS = {"cli.py", "demo.py", "_exit.py"}


def _python(code: str, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, timeout=timeout
    )


def test_the_library_has_a_null_handler_and_leaves_the_root_logger_alone():
    handlers = logging.getLogger("veil").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)
    result = _python("import logging, veil; print(len(logging.getLogger().handlers))")
    assert result.stdout.strip() == "0", result.stderr


def test_show_logs_prints_veil_messages_once_however_often_it_is_called():
    first, second = io.StringIO(), io.StringIO()
    logger = logging.getLogger("veil")
    before = list(logger.handlers)
    try:
        veil.show_logs(stream=first)
        veil.show_logs(logging.INFO, stream=second)
        get_logger("veil.sklearn").info("trained %d epochs", 3)
        get_logger("veil.sklearn").debug("not shown at INFO")
    finally:
        for handler in set(logger.handlers) - set(before):
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert first.getvalue() == ""  # replaced by the second call
    assert second.getvalue().endswith(" veil: trained 3 epochs\n")
    assert second.getvalue().count("\n") == 1


def test_get_logger_accepts_only_veil_modules():
    with pytest.raises(
        ValueError, match=r"module_name must be a Veil module's __name__ \(veil\.\*\), got 'os'"
    ):
        get_logger("os")


def test_the_library_does_not_print():
    printing = []
    for file in SRC.rglob("*.py"):
        if file.name in ENTRY_POINTS:
            continue
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                printing.append(f"{file.relative_to(SRC)}:{node.lineno}")
    assert printing == [], "use veil._logging.get_logger(__name__) instead of print"


def test_importing_veil_shows_no_third_party_warning():
    code = (
        "import veil.fhe, veil.sklearn, veil.torch, veil.deployment\n"
        "from veil._third_party import import_quietly\n"
        "import_quietly('brevitas.export')\n"
    )
    result = _python(code, "-W", "always")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_quiet_imports_leave_the_users_warning_filters_unchanged():
    filters = list(warnings.filters)
    import_quietly("json")
    assert warnings.filters == filters
    with pytest.warns(UserWarning, match="pkg_resources is deprecated as an API"):
        warnings.warn("pkg_resources is deprecated as an API, says the user", UserWarning, stacklevel=1)


@pytest.mark.parametrize(
    ("setup", "server_dir", "message"),
    [
        (
            "",
            "{tmp}/missing",
            "veil serve: error: [Errno 2] No such file or directory: '{tmp}/missing/server.veil'",
        ),
        ("", "{tmp}/not-veil", "veil serve: error: file '{tmp}/not-veil/server.veil' is not a Veil file"),
        (
            "sys.modules['uvicorn'] = None",
            "{tmp}/missing",
            "veil serve: error: import of uvicorn halted; None in sys.modules: "
            "`veil serve` needs the serve extra, `pip install 'veil[serve]'`",
        ),
    ],
)
def test_cli_errors_the_user_can_fix_are_one_line_with_status_2(
    tmp_path: Path, setup: str, server_dir: str, message: str
):
    (tmp_path / "not-veil").mkdir()
    (tmp_path / "not-veil" / "server.veil").write_bytes(b"not a model")
    server_dir = server_dir.format(tmp=tmp_path)
    result = _python(f"import sys; {setup}\nfrom veil.cli import main; main(['serve', {server_dir!r}])")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(message.format(tmp=tmp_path))


@pytest.mark.parametrize(
    ("body", "status", "stderr"),
    [
        ("pass", 0, ""),
        ("sys.exit(5)", 5, ""),
        ("sys.exit('stopped: no rows')", 1, "stopped: no rows\n"),
        (
            "raise ValueError('n_bits must be at least 2, got 1')",
            2,
            "job: error: n_bits must be at least 2, got 1\n",
        ),
        ("raise RuntimeError('a bug')", 1, "job failed:\nTraceback"),
    ],
)
def test_exit_with_status_keeps_the_status_of_each_ending(body: str, status: int, stderr: str):
    code = (
        "import sys\nfrom veil._exit import exit_with_status\n"
        f"def job():\n    {body}\n"
        "exit_with_status(job, 'job', user_errors=(ValueError,))\n"
    )
    result = _python(code)
    assert result.returncode == status
    assert result.stderr.startswith(stderr), result.stderr


@pytest.mark.heavy
def test_make_demo_shows_no_warning_the_user_did_not_cause():
    result = subprocess.run([sys.executable, "-m", "veil.demo"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert "FHE simulation accuracy" in result.stdout


@pytest.mark.parametrize("searched", [False, True], ids=["set-parameters", "capacity-search"])
def test_fit_warnings_point_at_the_users_call(searched: bool):
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    from veil.sklearn import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 3)), np.arange(300) % 2
    X[0, 1] = 1e4  # an outlier: fit warns about it
    params = {} if searched else {"module__n_layers": 2, "module__n_accum_bits": 4}
    model = NeuralNetClassifier(max_epochs=1, random_state=0, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
        model.predict(X[:2], execute_in_fhe=False)
    kinds = {(w.category, Path(w.filename).name) for w in caught}
    assert (ConvergenceWarning, Path(__file__).name) in kinds  # too few steps for the quantizers' scales
    assert (UserWarning, Path(__file__).name) in kinds  # the outlier
    assert (DeprecationWarning, Path(__file__).name) in kinds  # execute_in_fhe
    veil_warnings = [w for w in caught if w.category in (ConvergenceWarning, DeprecationWarning)]
    assert {Path(w.filename).name for w in veil_warnings} == {Path(__file__).name}
