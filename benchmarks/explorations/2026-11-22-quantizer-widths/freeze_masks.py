"""Prototype: freeze each neuron's inputs once the accumulator budget is closed.

Today the masks are recomputed from the weights' magnitudes at every training step. A dropped weight
gets no gradient and keeps a stale value, so when a kept weight shrinks below it the two swap, and the
neuron takes back an input whose weight has not trained since it was dropped. Here, once the schedule's
slack reaches 0, the masks are computed once more and after that can only drop weights (a kept weight
whose integer value grows may still have to go, so that the bound holds).

Usage (repository root, PYTHONPATH=.): freeze_masks.py <datasets> <seeds> <out.jsonl> [json params]
"""
import json
import sys
import time

import numpy as np
import torch
from torch.nn.utils import prune

import veil.sklearn._qnn_module as qnn_module
from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

datasets, seeds, out = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}


def refresh_masks(self):
    frozen = self.budget_slack_bits == 0 and getattr(self, "masks_closed", False)
    budgets = self.accumulator_budgets()
    for k in self._pruned_layer_indices():
        quantizer, linear = self._layer_inputs()[k]
        if not prune.is_pruned(linear):
            continue
        weight = linear.weight_orig.detach()
        mask = torch.ones_like(weight, dtype=torch.bool)
        if self._neuron_masks[k] is not None:
            mask &= self._neuron_masks[k][:, None]
        if frozen:
            mask &= linear.weight_mask.bool()
        sample = self._quantized_input(quantizer, linear.in_features)
        low, high = self._input_integer_range(quantizer, sample)
        integers = self._integer_weight(linear, sample, weight) * mask.cpu().numpy()
        priority = (weight.abs() * mask).cpu().numpy()
        fits = qnn_module.fitting_mask(integers, priority, low, high, budgets[k] + self.budget_slack_bits)
        mask &= torch.from_numpy(fits).to(mask.device)
        linear.weight_mask.copy_(mask.to(linear.weight_mask.dtype))
        linear.weight = linear.weight_orig * linear.weight_mask
    self.masks_closed = self.budget_slack_bits == 0


qnn_module.SparseQuantNeuralNetwork._refresh_masks = refresh_masks
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
        row = {"variant": "freeze", "params": params, "dataset": dataset, "seed": seed,
               "float_acc": float(np.mean(float_model.predict(Xte) == yte)),
               "sim_acc": float(np.mean(sim == yte)), "clear_equals_sim": bool(np.array_equal(clear, sim)),
               "fit_s": round(fit_s, 1), "lookups": st.table_lookups_by_bit_width,
               "max_bit_width": st.max_bit_width}
        row["delta"] = row["sim_acc"] - row["float_acc"]
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
