"""Digits with 6-bit hidden accumulators (a neuron reads 9 inputs) on fewer neurons, so that the
6-bit lookups (about 60 ms each) stay near the 3 s per row target.

Usage (repository root, PYTHONPATH=.): narrow_6bit.py <hidden neurons> <datasets> <seeds> <out.jsonl>
"""
import sys

from scoring import score

import veil.sklearn._qnn_module as qnn_module

width = int(sys.argv[1])
datasets, seeds, out = sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
qnn_module.SparseQuantNeuralNetwork.n_hidden_neurons = property(lambda self: width)
score(f"acc6_width{width}", datasets, seeds, out, {"module__n_accum_bits": 6})
