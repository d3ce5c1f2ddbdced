"""The documentation site builds with warnings as errors, and its API reference comes from the docstrings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_docs_build_strictly_with_the_api_reference(tmp_path: Path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's banner about MkDocs 2, not a build warning
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    reference = (tmp_path / "api" / "sklearn" / "index.html").read_text()
    assert "veil.sklearn.NeuralNetClassifier" in reference
    assert "Fully connected classifier trained with quantization-aware training" in reference


@pytest.mark.heavy
def test_the_pictures_script_draws_every_picture(tmp_path: Path):
    """Trains the two 2-D models (about a minute) and draws the three pictures the docs show."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "scripts" / "pictures.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    for name in ("decision-boundaries.png", "training-curve.png", "accuracy-latency.png"):
        picture = tmp_path / name
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert picture.stat().st_size > 10_000, f"{name} is nearly empty"
        assert f"images/{name}" in "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
