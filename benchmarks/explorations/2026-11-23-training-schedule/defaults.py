"""Simulated accuracy against the float MLP of the same width with the library's defaults (50 epochs):
run after the learning-rate decay became a default callback, to check it reproduces `hold_cosine_weights`.

Usage (from the repository root, PYTHONPATH=.):
    defaults.py <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys
from pathlib import Path

# The train-compile-score loop is the previous exploration's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "2026-11-22-quantizer-widths"))
from scoring import score  # noqa: E402

datasets, seeds, out = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
score("defaults", datasets, seeds, out, params)
