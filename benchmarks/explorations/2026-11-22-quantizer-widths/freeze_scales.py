"""Prototype: stop learning the input and activation scales at a fraction of the epochs.

With power-of-two scales, a learned log-scale that sits at a rounding boundary flips the scale between
two powers of two from one step to the next. Whichever side the last optimizer step leaves it on is the
model that gets exported, while the weights were trained on both. On circles, seed 4, the last step
moved the input scale's parameter from +0.03 to -0.0002: the input step went from 0.5 to 0.25 and the
model's training accuracy from 95% to 58%. Freezing the scales for the last epochs makes the exported
model the one the last epochs trained.

Usage (repository root, PYTHONPATH=.): freeze_scales.py <fraction> <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys
import time

import numpy as np
import torch
from skorch.callbacks import Callback

from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

fraction = float(sys.argv[1])
datasets, seeds, out = sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
params = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}


class FreezeScales(Callback):
    def __init__(self, fraction):
        self.fraction = fraction

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) - 1 >= round(self.fraction * net.max_epochs):
            for name, parameter in net.module_.named_parameters():
                if "scaling_impl" in name:
                    parameter.requires_grad_(False)


torch.set_num_threads(1)
data = _datasets()
for seed in map(int, seeds):
    for dataset in datasets:
        X, y, task = data[dataset]
        Xtr, Xte, ytr, yte = _split(X, y, task)
        t = time.perf_counter()
        model, float_model = NeuralNetClassifier(
            max_epochs=50, random_state=seed, callbacks=[FreezeScales(fraction)], **params
        ).fit_benchmark(Xtr, ytr)
        fit_s = time.perf_counter() - t
        model.compile(Xtr)
        st = model.fhe_circuit.statistics
        clear = model.predict(Xte, fhe="disable")
        sim = model.predict(Xte, fhe="simulate")
        row = {"variant": f"freeze_scales_{fraction}", "params": params, "dataset": dataset, "seed": seed,
               "float_acc": float(np.mean(float_model.predict(Xte) == yte)),
               "sim_acc": float(np.mean(sim == yte)), "clear_equals_sim": bool(np.array_equal(clear, sim)),
               "fit_s": round(fit_s, 1), "lookups": st.table_lookups_by_bit_width,
               "max_bit_width": st.max_bit_width}
        row["delta"] = row["sim_acc"] - row["float_acc"]
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
