"""docs/own-networks.md shows the registry's supported-ops table, and its CNN example runs."""

import re
from pathlib import Path

import pytest

from veil.onnx._registry import supported_ops_table

PAGE = Path(__file__).parents[2] / "docs" / "own-networks.md"


def test_the_docs_table_is_the_registry_table():
    assert supported_ops_table() in PAGE.read_text()


@pytest.mark.heavy
def test_the_docs_cnn_example_runs(capsys):
    (example,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    exec(compile(example, str(PAGE), "exec"), {})
    accuracy = float(re.search(r"accuracy ([0-9.]+)", capsys.readouterr().out).group(1))
    assert accuracy > 0.8
