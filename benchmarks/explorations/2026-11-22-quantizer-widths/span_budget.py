"""Prototype: an accumulator fits ``b`` bits when its span (highest minus lowest value) is below 2**b.

The integer graph subtracts each neuron's lowest accumulator value before the table lookup (a clear
constant, free in FHE), so a lookup reads values in [0, high - low]: the span is what sets its bit-width,
not the signed window [-2**(b-1), 2**(b-1) - 1] that the masks use today. This script patches the masks
to the span rule and checks the result against the compiled circuit's lookup bit-widths.

Usage (repository root, PYTHONPATH=.): span_budget.py <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys

import numpy as np
from scoring import score

import veil.sklearn._qnn_module as qnn_module

datasets, seeds, out = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}


def span_fitting_mask(int_weight, priority, input_low, input_high, n_accum_bits):
    weights = np.rint(int_weight).astype(np.int64)
    at_low, at_high = weights * int(input_low), weights * int(input_high)
    add_low, add_high = np.minimum(at_low, at_high), np.maximum(at_low, at_high)
    order = np.argsort(-np.asarray(priority, dtype=np.float64), axis=1, kind="stable")
    low = np.zeros(weights.shape[0], dtype=np.int64)
    high = np.zeros(weights.shape[0], dtype=np.int64)
    mask = np.zeros(weights.shape, dtype=bool)
    rows = np.arange(weights.shape[0])
    for position in range(weights.shape[1]):
        column = order[:, position]
        new_low, new_high = low + add_low[rows, column], high + add_high[rows, column]
        fits = new_high - new_low <= 2**n_accum_bits - 1
        mask[rows, column] = fits
        low, high = np.where(fits, new_low, low), np.where(fits, new_high, high)
    return mask


qnn_module.fitting_mask = span_fitting_mask
qnn_module.SparseQuantNeuralNetwork.check_accumulators = lambda self: None  # the circuit is checked instead
score("span", datasets, seeds, out, params, extra=lambda model, X_test: {
    "hidden_budget": model.base_module_to_compile.n_accum_bits,
    "output_budget": model.base_module_to_compile.output_accum_bits,
})
