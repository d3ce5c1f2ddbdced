"""Prototype: a learned scale and centre per input feature before the 3-bit input quantizer.

Each feature is mapped to ``(x - centre) * scale`` with both learned by gradient descent through the
quantizer, so that each feature can spread its values over the grid's eight levels instead of the four
or five that the shared grid gives most of digits' pixels. The map runs on the client (the exported graph
holds it as a Sub and a Mul before the quantizer), so it costs nothing in FHE, and the accumulator bound
is unchanged (every feature still spans the grid).

Usage (repository root, PYTHONPATH=.): feature_affine.py <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys
import time

import numpy as np
import torch

import veil.sklearn._qnn_module as qnn_module
from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

datasets, seeds, out = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
Net = qnn_module.SparseQuantNeuralNetwork
original_build_layers, original_forward = Net._build_layers, Net.forward


def build_layers(self):
    original_build_layers(self)
    self.feature_centre = torch.nn.Parameter(torch.zeros(self.input_dim))
    self.feature_scale = torch.nn.Parameter(torch.ones(self.input_dim))


def forward(self, x):
    return original_forward(self, (x - self.feature_centre) * self.feature_scale)


Net._build_layers, Net.forward = build_layers, forward
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
        module = model.base_module_to_compile
        row = {"variant": "feature_affine", "params": params, "dataset": dataset, "seed": seed,
               "float_acc": float(np.mean(float_model.predict(Xte) == yte)),
               "sim_acc": float(np.mean(sim == yte)), "clear_equals_sim": bool(np.array_equal(clear, sim)),
               "torch_equals_clear": bool(np.array_equal(model.skorch_net_.predict(Xte.astype(np.float32)), np.searchsorted(model.classes_, clear))),
               "scale_range": [round(float(module.feature_scale.min()), 2), round(float(module.feature_scale.max()), 2)],
               "fit_s": round(fit_s, 1), "lookups": st.table_lookups_by_bit_width,
               "max_bit_width": st.max_bit_width}
        row["delta"] = row["sim_acc"] - row["float_acc"]
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
