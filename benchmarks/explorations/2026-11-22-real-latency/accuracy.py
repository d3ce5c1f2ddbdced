"""Simulated accuracy of candidate defaults against the float MLP of the same width (50 epochs)."""
import json
import sys
import time

import numpy as np

from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

configs = json.loads(sys.argv[1])  # {name: params}
datasets = sys.argv[2].split(",")
seeds = [int(s) for s in sys.argv[3].split(",")]
out = sys.argv[4]
data = _datasets()
for seed in seeds:
    for dataset in datasets:
        X, y, task = data[dataset]
        Xtr, Xte, ytr, yte = _split(X, y, task)
        for name, params in configs.items():
            t = time.perf_counter()
            model, float_model = NeuralNetClassifier(max_epochs=50, random_state=seed, **params).fit_benchmark(Xtr, ytr)
            fit_s = time.perf_counter() - t
            model.compile(Xtr)
            st = model.fhe_circuit.statistics
            sim = model.predict(Xte, fhe="simulate")
            row = {"config": name, "dataset": dataset, "seed": seed, "params": params,
                   "hidden": model.base_module_to_compile.n_hidden_neurons,
                   "float_acc": float(np.mean(float_model.predict(Xte) == yte)),
                   "sim_acc": float(np.mean(sim == yte)), "fit_s": fit_s,
                   "lookups": st.table_lookups_by_bit_width, "max_bit_width": st.max_bit_width,
                   "key_mb": st.evaluation_key_bytes / 1e6}
            row["delta"] = row["sim_acc"] - row["float_acc"]
            print(json.dumps(row), flush=True)
            with open(out, "a") as f:
                f.write(json.dumps(row) + "\n")
