"""Float MLPClassifier accuracy at given hidden widths, with the estimator's training setup (50 epochs)."""
import json
import sys

import numpy as np
from sklearn.neural_network import MLPClassifier

from benchmarks.run import _datasets, _split

widths = [int(w) for w in sys.argv[1].split(",")]
data = _datasets()
for dataset in ("iris", "moons", "wine", "breast_cancer", "digits"):
    X, y, task = data[dataset]
    Xtr, Xte, ytr, yte = _split(X, y, task)
    for width in widths:
        for seed in (0, 1, 2, 3):
            mlp = MLPClassifier(hidden_layer_sizes=(width,), learning_rate_init=5e-3, max_iter=50,
                                batch_size=16, random_state=seed).fit(Xtr, ytr)
            print(json.dumps({"dataset": dataset, "width": width, "seed": seed,
                              "float_acc": float(np.mean(mlp.predict(Xte) == yte))}), flush=True)
