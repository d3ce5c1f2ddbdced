"""Default network with a cosine learning-rate schedule over the 50 epochs: simulated accuracy."""
import json
import sys

import numpy as np
import torch
from skorch.callbacks import LRScheduler

from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

data = _datasets()
for seed in [int(s) for s in sys.argv[2].split(",")]:
    for dataset in sys.argv[1].split(","):
        X, y, task = data[dataset]
        Xtr, Xte, ytr, yte = _split(X, y, task)
        schedule = LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=50)
        model = NeuralNetClassifier(max_epochs=50, random_state=seed, callbacks=[schedule]).fit(Xtr, ytr)
        model.compile(Xtr)
        sim = float(np.mean(model.predict(Xte, fhe="simulate") == yte))
        row = {"variant": "cosine_lr005", "dataset": dataset, "seed": seed, "sim_acc": sim,
               "lookups": model.fhe_circuit.statistics.table_lookups_by_bit_width}
        print(json.dumps(row), flush=True)
        with open(sys.argv[3], "a") as f:
            f.write(json.dumps(row) + "\n")
