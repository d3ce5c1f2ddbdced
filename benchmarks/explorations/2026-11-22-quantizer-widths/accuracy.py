"""Simulated accuracy against the float MLP of the same width (defaults, 50 epochs), with the input
quantizer and the hidden activation quantizers at their own bit-widths.

Usage (from the repository root, PYTHONPATH=.):
    accuracy.py <input bits> <hidden activation bits> <datasets> <seeds> <out.jsonl> [json params]

A lookup's cost depends on the accumulator, not on the activations: fewer activation bits let each
neuron read more inputs within the same accumulator budget, at no cost in latency.
"""
import json
import sys
import time

import numpy as np
import torch

import veil.sklearn._qnn_module as qnn_module
from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

input_bits, hidden_bits = int(sys.argv[1]), int(sys.argv[2])
datasets, seeds, out = sys.argv[3].split(","), sys.argv[4].split(","), sys.argv[5]
params = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}

original_make_quantizer = qnn_module.SparseQuantNeuralNetwork._make_quantizer
original_build_layers = qnn_module.SparseQuantNeuralNetwork._build_layers


def make_quantizer(self, signed, narrow, bits=None):
    quantizer = original_make_quantizer(self, signed, narrow)
    if bits is not None:
        quantizer = qnn_module.qnn.QuantIdentity(
            act_quant=qnn_module._activation_quantizer(signed, self.power_of_two_scaling),
            bit_width=bits,
            collect_stats_steps=qnn_module.ACTIVATION_STATS_STEPS,
            signed=signed,
            narrow_range=narrow,
            return_quant_tensor=True,
        )
    return quantizer


def build_layers(self):
    original_build_layers(self)
    formats = self._layer_input_formats()
    self.input_quant = make_quantizer(self, *formats[0], bits=input_bits)
    self.activation_quants = torch.nn.ModuleList(make_quantizer(self, *f, bits=hidden_bits) for f in formats[1:])


qnn_module.SparseQuantNeuralNetwork._build_layers = build_layers
torch.set_num_threads(1)
data = _datasets()
for seed in map(int, seeds):
    for dataset in datasets:
        X, y, task = data[dataset]
        Xtr, Xte, ytr, yte = _split(X, y, task)
        t = time.perf_counter()
        model, float_model = NeuralNetClassifier(max_epochs=50, random_state=seed, **params).fit_benchmark(Xtr, ytr)
        fit_s = time.perf_counter() - t
        model.compile(Xtr)
        st = model.fhe_circuit.statistics
        clear = model.predict(Xte, fhe="disable")
        sim = model.predict(Xte, fhe="simulate")
        row = {"input_bits": input_bits, "hidden_bits": hidden_bits, "params": params, "dataset": dataset,
               "seed": seed, "float_acc": float(np.mean(float_model.predict(Xte) == yte)),
               "sim_acc": float(np.mean(sim == yte)), "clear_equals_sim": bool(np.array_equal(clear, sim)),
               "fit_s": round(fit_s, 1), "lookups": st.table_lookups_by_bit_width,
               "max_bit_width": st.max_bit_width}
        row["delta"] = row["sim_acc"] - row["float_acc"]
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
