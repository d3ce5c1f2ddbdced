"""The progress display: shown in a terminal, hidden otherwise, and one switch, ``veil.set_progress``."""

import fcntl
import io
import logging
import os
import pty
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest

import veil
from veil._progress import map_rows, progress_enabled, stage


@pytest.fixture
def progress_setting():
    """Restore the process-wide setting after the test changes it."""
    previous = veil.set_progress(None)
    yield
    veil.set_progress(previous)


def test_set_progress_returns_the_previous_setting_and_refuses_other_values(progress_setting):
    assert veil.set_progress(False) is None
    assert veil.set_progress(True) is False
    with pytest.raises(TypeError, match=r"enabled must be True, False or None, got 'no'"):
        veil.set_progress("no")
    assert veil.set_progress(None) is True


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_by_default_progress_follows_whether_stderr_is_a_terminal(progress_setting, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert progress_enabled()
    veil.set_progress(False)
    assert not progress_enabled()
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    veil.set_progress(None)
    assert not progress_enabled()
    veil.set_progress(True)
    assert progress_enabled()


def test_map_rows_runs_slices_in_order_and_counts_rows_when_on(progress_setting, capsys):
    veil.set_progress(True)
    rows = np.arange(10).reshape(5, 2)
    results = map_rows(lambda piece: piece.sum(axis=1), rows, "FHE execution", rows_per_call=2)
    np.testing.assert_array_equal(np.concatenate(results), [1, 5, 9, 13, 17])
    assert [len(result) for result in results] == [2, 2, 1]
    err = capsys.readouterr().err
    assert "FHE execution: 100%" in err
    assert "5/5" in err


def test_map_rows_is_quiet_when_stderr_is_not_a_terminal(progress_setting, capsys):
    map_rows(lambda piece: piece, np.zeros((4, 2)), "FHE execution")
    assert capsys.readouterr().err == ""  # pytest's captured stderr is not a terminal


@pytest.mark.parametrize(
    ("label", "rows_per_call", "delay", "why"),
    [
        ("FHE execution", 1, 0.0, "switched off"),
        (None, 1, 0.0, "no label: the service's workers"),
        ("FHE simulation", 128, 0.0, "one call: nothing to count"),
        ("FHE simulation", 1, 30.0, "done before the delay"),
    ],
)
def test_map_rows_stays_quiet(progress_setting, capsys, label, rows_per_call, delay, why):
    veil.set_progress(why != "switched off")
    map_rows(lambda piece: piece, np.zeros((4, 2)), label, rows_per_call=rows_per_call, delay=delay)
    assert capsys.readouterr().err == "", why


def test_a_stage_shows_its_steps_and_elapsed_time(progress_setting, capsys):
    veil.set_progress(True)
    with stage("FHE compilation", steps=2, unit="circuits") as circuit_done:
        time.sleep(0.2)  # tqdm redraws at most every 0.1 s
        circuit_done()
        assert "FHE compilation: 1/2 circuits [00:00]" in capsys.readouterr().err
    assert "FHE compilation: 2/2 circuits [00:00]\n" in capsys.readouterr().err


def test_a_stage_redraws_its_elapsed_time_while_it_runs(progress_setting, capsys):
    veil.set_progress(True)
    with stage("key generation"):
        time.sleep(1.2)
        assert "key generation: 0/1 step [00:01]" in capsys.readouterr().err


def test_a_quick_stage_with_a_delay_shows_nothing(progress_setting, capsys):
    veil.set_progress(True)
    with stage("key generation", delay=30.0):
        pass
    assert capsys.readouterr().err == ""


_SCRIPT = """
import sys
import numpy as np
import veil
from veil._progress import map_rows
if sys.argv[1] == "off":
    veil.set_progress(False)
map_rows(lambda piece: piece, np.zeros((3, 2)), "FHE execution")
"""


def _stderr_of_script(argument: str, terminal: bool) -> str:
    """The script's standard error, written to a 100-column pseudo-terminal or to a pipe."""
    command = [sys.executable, "-c", _SCRIPT, argument]
    if not terminal:
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    process = subprocess.Popen(command, stderr=follower, stdout=subprocess.DEVNULL)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the script ended and closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return output.decode()


def test_a_terminal_shows_progress_by_default_and_set_progress_false_hides_it():
    shown = _stderr_of_script("default", terminal=True)
    assert "FHE execution: 100%" in shown and "3/3" in shown
    assert _stderr_of_script("off", terminal=True) == ""
    assert _stderr_of_script("default", terminal=False) == ""


def test_what_the_display_shows_is_logged_at_debug_level_display_or_not(progress_setting, capsys):
    veil.set_progress(False)
    lines = io.StringIO()
    logger = logging.getLogger("veil")
    handler = veil.show_logs(logging.DEBUG, stream=lines)
    try:
        with stage("FHE compilation", steps=2, unit="circuits"):
            pass
        map_rows(lambda piece: piece, np.zeros((3, 2)), "FHE execution")
        map_rows(lambda piece: piece, np.zeros((3, 2)), None)  # the service's workers: no log either
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    logged = lines.getvalue().splitlines()
    assert [line.split(" veil: ")[1] for line in logged] == [
        "FHE compilation: 2 circuits in 0.0 s",
        "FHE execution: 3 rows in 0.0 s",
    ]
    assert capsys.readouterr().err == ""
