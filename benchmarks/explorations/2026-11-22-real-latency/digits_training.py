"""Digits with the default network: does a cosine learning-rate schedule help QAT in 50 epochs?"""
import json
import sys

import numpy as np
import torch
from skorch.callbacks import LRScheduler

from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

seeds = [int(s) for s in sys.argv[1].split(",")]
out = sys.argv[2]
X, y, task = _datasets()["digits"]
Xtr, Xte, ytr, yte = _split(X, y, task)
variants = {
    "cosine_lr005": {"lr": 0.005},
    "cosine_lr01": {"lr": 0.01},
    "cosine_lr01_wd": {"lr": 0.01, "optimizer__weight_decay": 1e-4},
}
for seed in seeds:
    for name, params in variants.items():
        schedule = LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=50)
        model = NeuralNetClassifier(max_epochs=50, random_state=seed, callbacks=[schedule], **params)
        model.fit(Xtr, ytr)
        model.compile(Xtr)
        sim = float(np.mean(model.predict(Xte, fhe="simulate") == yte))
        row = {"variant": name, "seed": seed, "sim_acc": sim}
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
