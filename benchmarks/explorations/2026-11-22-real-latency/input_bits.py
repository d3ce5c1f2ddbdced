"""Exploration: 2-bit model inputs (activations stay 3-bit) let each 4-bit-accumulator neuron read ~5
inputs instead of 2. Patches the module's input quantizer; not a Veil option."""
import json
import sys

import brevitas.nn as qnn
import numpy as np

from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier
from veil.sklearn import _qnn_module

INPUT_BITS = int(sys.argv[1])
original = _qnn_module.SparseQuantNeuralNetwork._build_layers


def build_layers(self):
    original(self)
    signed, narrow = self._layer_input_formats()[0]
    self.input_quant = qnn.QuantIdentity(
        act_quant=_qnn_module._activation_quantizer(signed, self.power_of_two_scaling),
        bit_width=INPUT_BITS, collect_stats_steps=_qnn_module.ACTIVATION_STATS_STEPS,
        signed=signed, narrow_range=narrow, return_quant_tensor=True)


_qnn_module.SparseQuantNeuralNetwork._build_layers = build_layers
data = _datasets()
for seed in [int(s) for s in sys.argv[3].split(",")]:
    for dataset in sys.argv[2].split(","):
        X, y, task = data[dataset]
        Xtr, Xte, ytr, yte = _split(X, y, task)
        model = NeuralNetClassifier(max_epochs=50, random_state=seed).fit(Xtr, ytr)
        model.compile(Xtr)
        st = model.fhe_circuit.statistics
        sim = float(np.mean(model.predict(Xte, fhe="simulate") == yte))
        row = {"input_bits": INPUT_BITS, "dataset": dataset, "seed": seed, "sim_acc": sim,
               "lookups": st.table_lookups_by_bit_width, "max_bit_width": st.max_bit_width}
        print(json.dumps(row), flush=True)
        with open(sys.argv[4], "a") as f:
            f.write(json.dumps(row) + "\n")
