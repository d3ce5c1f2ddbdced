"""Simulated accuracy against the float MLP of the same width (50 epochs), with and without the
straight-through mask. Usage: accuracy.py <variant: masked|straight> <datasets> <seeds> <out.jsonl>."""
import json
import sys
import time

import numpy as np
import torch
from skorch.callbacks import Callback

import veil.sklearn._qnn_module as qnn_module
from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

variant, datasets, seeds, out = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
params = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
qnn_module.STRAIGHT_THROUGH = variant == "straight"


class BudgetSchedule(Callback):
    """Loosen every accumulator budget by ``start`` bits at the first epoch, tightening on a cubic
    schedule to the real budget at ``ramp`` of the epochs (gradual pruning)."""

    def __init__(self, start, ramp):
        self.start, self.ramp = start, ramp

    def on_epoch_begin(self, net, **kwargs):
        progress = min(1.0, (len(net.history) - 1) / (self.ramp * net.max_epochs))
        net.module_.budget_slack_bits = int(round(self.start * (1 - progress) ** 3))

if variant.startswith("in"):
    qnn_module.INPUT_BITS = int(variant[2:])
torch.set_num_threads(1)
data = _datasets()
for seed in map(int, seeds):
    for dataset in datasets:
        X, y, task = data[dataset]
        Xtr, Xte, ytr, yte = _split(X, y, task)
        t = time.perf_counter()
        extra = {}
        if variant == "decay":  # built-in schedule, and the learning rate decays once the budget is closed
            import math

            from skorch.callbacks import LRScheduler
            from torch.optim.lr_scheduler import LambdaLR

            def factor(epoch, closed=30, total=50):
                if epoch < closed:
                    return 1.0
                return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (epoch - closed) / (total - closed)))

            extra["callbacks"] = [LRScheduler(policy=LambdaLR, lr_lambda=factor)]
        if variant.startswith("gradual"):  # gradual<start>_<ramp percent>
            start, ramp = variant[len("gradual"):].split("_")
            extra["callbacks"] = [BudgetSchedule(int(start), int(ramp) / 100)]
        model, float_model = NeuralNetClassifier(max_epochs=50, random_state=seed, **params, **extra).fit_benchmark(Xtr, ytr)
        fit_s = time.perf_counter() - t
        # Budgets past what FHE can hold are only scored in the clear (clear == simulate when it compiles).
        clear_only = max(params.get("module__n_accum_bits", 0), params.get("module__n_accum_bits_output", 0)) > 10
        if not clear_only:
            model.compile(Xtr)
        st = None if clear_only else model.fhe_circuit.statistics
        sim = model.predict(Xte, fhe="disable" if clear_only else "simulate")
        row = {"variant": variant, "params": params, "dataset": dataset, "seed": seed,
               "float_acc": float(np.mean(float_model.predict(Xte) == yte)),
               "sim_acc": float(np.mean(sim == yte)), "fit_s": round(fit_s, 1),
               "lookups": st and st.table_lookups_by_bit_width, "max_bit_width": st and st.max_bit_width}
        row["delta"] = row["sim_acc"] - row["float_acc"]
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
