"""The loop every script of this exploration shares: train with defaults (50 epochs) on the bench's
splits, compile, and append one JSON row per data set and seed with the simulated accuracy minus the
float MLP's of the same width."""
import json
import time

import numpy as np
import torch

from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier


def score(variant, datasets, seeds, out, params, callbacks=(), clip_inputs=False, extra=None):
    """Score ``variant`` on every data set and seed; ``extra(model, X_test)`` adds fields to each row.

    ``clip_inputs`` clips training and test rows to the per-feature ranges the module recorded
    (``feature_low`` / ``feature_high``) before compiling and predicting, as a clamp in the graph would.
    """
    torch.set_num_threads(1)
    data = _datasets()
    for seed in map(int, seeds):
        for dataset in datasets:
            X, y, task = data[dataset]
            X_train, X_test, y_train, y_test = _split(X, y, task)
            start = time.perf_counter()
            model, float_model = NeuralNetClassifier(
                max_epochs=50, random_state=seed, **({"callbacks": list(callbacks)} if callbacks else {}), **params
            ).fit_benchmark(X_train, y_train)
            fit_s = time.perf_counter() - start
            if clip_inputs:
                module = model.base_module_to_compile
                low, high = module.feature_low.numpy(), module.feature_high.numpy()
                X_train = np.clip(X_train.astype(np.float32), low, high)
                X_test = np.clip(X_test.astype(np.float32), low, high)
            model.compile(X_train)
            statistics = model.fhe_circuit.statistics
            clear = model.predict(X_test, fhe="disable")
            simulated = model.predict(X_test, fhe="simulate")
            row = {"variant": variant, "params": params, "dataset": dataset, "seed": seed,
                   "float_acc": float(np.mean(float_model.predict(X_test) == y_test)),
                   "clear_acc": float(np.mean(clear == y_test)),
                   "sim_acc": float(np.mean(simulated == y_test)),
                   "clear_equals_sim": bool(np.array_equal(clear, simulated)),
                   "fit_s": round(fit_s, 1), "lookups": statistics.table_lookups_by_bit_width,
                   "max_bit_width": statistics.max_bit_width, **(extra(model, X_test) if extra else {})}
            row["delta"] = row["sim_acc"] - row["float_acc"]
            print(json.dumps(row), flush=True)
            with open(out, "a") as f:
                f.write(json.dumps(row) + "\n")
