"""Real encrypted latency of candidate configurations (not the floor): fit, compile, keygen, 3 rows."""
import json
import sys
import time

import numpy as np

from benchmarks.run import _datasets, _split
from veil.sklearn import NeuralNetClassifier

CONFIGS = json.loads(sys.argv[1])  # list of [name, dataset, params]
out = sys.argv[2]
data = _datasets()
for name, dataset, params in CONFIGS:
    X, y, task = data[dataset]
    Xtr, Xte, ytr, yte = _split(X, y, task)
    seed = params.pop("seed", 0)
    model = NeuralNetClassifier(max_epochs=50, random_state=seed, **params)
    model.fit(Xtr, ytr)
    model.compile(Xtr)
    st = model.fhe_circuit.statistics
    t = time.perf_counter()
    model.fhe_circuit.keygen()
    keygen = time.perf_counter() - t
    sim = model.predict(Xte, fhe="simulate")
    qm = model.quantized_module_
    q = qm.quantize_input(Xte[:4].astype(np.float32))
    qm.quantized_forward(q[:1], fhe="execute")
    times = []
    for i in range(1, 4):
        t = time.perf_counter()
        qm.quantized_forward(q[i : i + 1], fhe="execute")
        times.append(time.perf_counter() - t)
    row = {"config": name, "dataset": dataset, "seed": seed, "params": params,
           "sim_acc": float(np.mean(sim == yte)), "enc_s": float(np.median(times)),
           "keygen_s": keygen, **st.to_dict()}
    print(json.dumps(row), flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")
