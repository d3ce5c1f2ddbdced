"""Measure accuracy (FHE-simulated) vs float MLP and the latency floor for NeuralNetClassifier configs.

Usage: python run_grid.py CONFIG_NAME 'JSON_PARAMS' dataset[,dataset...] seed[,seed...]
Appends one JSON line per (config, dataset, seed) to /tmp/qnn_speed/results.jsonl.
Splits/scaling identical to benchmarks/run.py (test_size=0.25, stratified, split seed 0, StandardScaler,
moons n_samples=1000 noise=0.2 random_state=0). Model/MLP seed = random_state.
"""
import json, os, sys, time, warnings
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
import numpy as np
import torch
torch.set_num_threads(1)
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine, make_moons
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.exceptions import ConvergenceWarning
warnings.filterwarnings("ignore", category=ConvergenceWarning)
warnings.filterwarnings("ignore", category=UserWarning)
from veil.sklearn import NeuralNetClassifier

# --- optional experiment (NOT in the library): separate accumulator budget for the last (leveled) layer ---
import veil.sklearn._base as _vbase
from veil.sklearn._qnn_module import SparseQuantNeuralNetwork, fitting_mask, prune, AccumulatorOverflowError

class SplitBudgetQNN(SparseQuantNeuralNetwork):
    def __init__(self, *args, n_accum_bits_output=None, **kwargs):
        self.n_accum_bits_output = n_accum_bits_output
        super().__init__(*args, **kwargs)

    def _budget(self, k):
        if self.n_accum_bits_output is not None and k == self.n_layers - 1:
            return self.n_accum_bits_output
        return self.n_accum_bits

    def _refresh_masks(self):
        for k in self._pruned_layer_indices():
            quantizer, linear = self._layer_inputs()[k]
            if not prune.is_pruned(linear):
                continue
            weight = linear.weight_orig.detach()
            mask = torch.ones_like(weight, dtype=torch.bool)
            if self._neuron_masks[k] is not None:
                mask &= self._neuron_masks[k][:, None]
            if self.accumulator_route == "prune":
                sample = self._quantized_input(quantizer, linear.in_features)
                low, high = self._input_integer_range(quantizer, sample)
                integers = self._integer_weight(linear, sample, weight) * mask.cpu().numpy()
                priority = (weight.abs() * mask).cpu().numpy()
                fits = fitting_mask(integers, priority, low, high, self._budget(k))
                mask &= torch.from_numpy(fits).to(mask.device)
            linear.weight_mask.copy_(mask.to(linear.weight_mask.dtype))
            linear.weight = linear.weight_orig * linear.weight_mask

    def check_accumulators(self):
        widths = self.accumulator_bit_widths()
        if any(w > self._budget(k) for k, w in enumerate(widths)):
            raise AccumulatorOverflowError(f"widths {widths} exceed budgets")

_vbase.SparseQuantNeuralNetwork = SplitBudgetQNN

COST_MS = {2: 7.4, 3: 9.4, 4: 11.8, 5: 25.5, 6: 64.5, 7: 134.0, 8: 416.0}
ROUND_MS = 7.0
OUT = "/tmp/qnn_speed/results.jsonl"

def datasets():
    return {
        "iris": load_iris(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "digits": load_digits(return_X_y=True),
        "moons": make_moons(n_samples=1000, noise=0.2, random_state=0),
    }

def split(X, y):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte

def effective_lookups(circuit):
    """Table lookups by their *effective* input precision: a tlu fed by round_bit_pattern runs on
    (width - lsbs_to_remove) bits. round_bit_pattern nodes themselves are not counted (their PBS, if exact,
    are the remainder of programmable_bootstrap_count)."""
    from collections import Counter
    from concrete.fhe.dtypes import Integer
    g = circuit.graph
    counts, n_round = Counter(), 0
    for node in g.query_nodes(is_encrypted_filter=True):
        name = node.properties.get("name", "") if hasattr(node, "properties") else ""
        if name == "round_bit_pattern":
            continue
        if not node.converted_to_table_lookup:
            continue
        pred = g.ordered_preds_of(node)[0]
        bits = pred.output.dtype.bit_width
        if pred.properties.get("name", "") == "round_bit_pattern":
            bits -= int(pred.properties["kwargs"]["lsbs_to_remove"])
        counts[bits] += int(np.prod(node.output.shape, dtype=np.int64))
    return dict(sorted(counts.items())), n_round

def main():
    name, params, dsets, seeds = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3].split(","), sys.argv[4].split(",")
    prune_after = params.pop("_prune_after", None)  # optional: use model.prune(X,y,pct) after fit
    data = datasets()
    for ds in dsets:
        Xtr, Xte, ytr, yte = split(*data[ds])
        for seed in map(int, seeds):
            rec = {"config": name, "params": params, "dataset": ds, "seed": seed}
            try:
                t0 = time.perf_counter()
                model, mlp = NeuralNetClassifier(max_epochs=50, random_state=seed, **params).fit_benchmark(Xtr, ytr)
                if prune_after:
                    model = model.prune(Xtr, ytr, prune_after)
                    rec["prune_after"] = prune_after
                rec["fit_s"] = time.perf_counter() - t0
                rec["float_acc"] = float(np.mean(mlp.predict(Xte) == yte))
                rec["clear_acc"] = float(np.mean(model.predict(Xte) == yte))
                mod = model.base_module_to_compile
                rec["accum_widths"] = mod.accumulator_bit_widths()
                w0 = mod.linears[0].weight.detach()
                rec["hidden"] = int(w0.shape[0])
                rec["active_hidden"] = int((w0.abs().sum(1) > 0).sum())
                t0 = time.perf_counter()
                model.compile(Xtr)
                rec["compile_s"] = time.perf_counter() - t0
                st = model.fhe_circuit.statistics
                lut = {int(k): int(v) for k, v in st.table_lookups_by_bit_width.items()}
                rec["lookups"] = lut
                rec["pbs"] = int(st.programmable_bootstrap_count)
                rec["max_bit_width"] = int(st.max_bit_width)
                n_lut = sum(lut.values())
                rec["floor_s_veilstats"] = (sum(COST_MS[b] * c for b, c in lut.items()) + ROUND_MS * max(0, rec["pbs"] - n_lut)) / 1000
                eff, n_round_pbs = effective_lookups(model.fhe_circuit._circuit)
                rec["eff_lookups"] = eff
                n_eff = sum(eff.values())
                rec["rounding_pbs"] = rec["pbs"] - n_eff
                rec["floor_s"] = (sum(COST_MS[b] * c for b, c in eff.items()) + ROUND_MS * (rec["pbs"] - n_eff)) / 1000
                rec["complexity"] = float(st.complexity)
                rec["pbs_per_param"] = {str((p.polynomial_size, p.glwe_dimension, p.input_lwe_dimension, p.level, p.base_log)): int(n) for p, n in model.fhe_circuit._circuit.programmable_bootstrap_count_per_parameter.items()}
                t0 = time.perf_counter()
                rec["sim_acc"] = float(np.mean(model.predict(Xte, fhe="simulate") == yte))
                rec["sim_s"] = time.perf_counter() - t0
                rec["delta"] = rec["sim_acc"] - rec["float_acc"]
            except Exception as e:  # record failures
                rec["error"] = f"{type(e).__name__}: {e}"[:500]
            with open(OUT, "a") as f:
                f.write(json.dumps(rec) + "\n")
            print(json.dumps({k: rec.get(k) for k in ("config", "dataset", "seed", "float_acc", "sim_acc", "clear_acc", "lookups", "pbs", "floor_s", "eff_lookups", "rounding_pbs", "complexity", "fit_s", "compile_s", "active_hidden", "hidden", "accum_widths", "error")}), flush=True)

if __name__ == "__main__":
    status = 1
    try:
        main(); status = 0
    finally:
        sys.stdout.flush(); sys.stderr.flush(); os._exit(status)
