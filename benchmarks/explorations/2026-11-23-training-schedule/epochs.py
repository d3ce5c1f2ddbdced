"""Clear accuracy against the float MLP of the same width and the same number of epochs, with every
other parameter at its default: how many epochs does the default network need?

Usage (from the repository root, PYTHONPATH=.):
    epochs.py <epochs,...> <seeds> <datasets> > out.jsonl

Clear predictions equal simulated ones (checked by every other script here), so no circuit is compiled.
"""
import json
import sys
import warnings

import numpy as np
import torch

from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
data = _datasets()
epochs = [int(e) for e in sys.argv[1].split(",")]
for seed in map(int, sys.argv[2].split(",")):
    for name in sys.argv[3].split(","):
        X, y, task = data[name]
        X_train, X_test, y_train, y_test = _split(X, y, task)
        for max_epochs in epochs:
            model, mlp = NeuralNetClassifier(max_epochs=max_epochs, random_state=seed).fit_benchmark(X_train, y_train)
            row = {"dataset": name, "seed": seed, "epochs": max_epochs,
                   "clear": float(np.mean(model.predict(X_test) == y_test)),
                   "float": float(np.mean(mlp.predict(X_test) == y_test))}
            row["delta"] = round(100 * (row["clear"] - row["float"]), 1)
            print(json.dumps(row), flush=True)
