"""MkDocs hook: draw the documentation's pictures before the build when one is missing.

``VEIL_DOCS_PICTURES=1 make docs`` redraws them all (after a change to the models or the benchmarks).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def _pictures_module():
    script = Path(__file__).with_name("pictures.py")
    spec = importlib.util.spec_from_file_location("veil_docs_pictures", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_pre_build(config, **kwargs) -> None:
    pictures = _pictures_module()
    missing = [name for name in pictures.PICTURES if not (pictures.IMAGES / name).exists()]
    if missing or os.environ.get("VEIL_DOCS_PICTURES") == "1":
        pictures.main(pictures.IMAGES)
