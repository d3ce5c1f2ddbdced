"""Aggregate /tmp/qnn_speed/results.jsonl: mean accuracy delta (points, sim - float) and mean floor per config/dataset.
Usage: python summarize.py [seeds e.g. 0,1]"""
import json, collections, sys
# screen-1 rounding runs were costed from veil's table_lookups_by_bit_width (counts round nodes as lookups at
# full width); corrected by hand from the graph (tlu precision = width - lsbs_to_remove, exact rounding PBS at 7 ms)
FIX = {"m1_acc6_r4": 2.786, "m1_acc7_r4": 3.441, "m2_acc5_r4": 2.59, "m4_acc6_r4": 10.37}
order = ["digits", "breast_cancer", "wine", "iris", "moons"]
target = {"digits": 3, "breast_cancer": 1.5, "wine": 1, "iris": 0.3, "moons": 0.3}
seeds = set(map(int, sys.argv[1].split(","))) if len(sys.argv) > 1 else None
latest = {}
for l in open("/tmp/qnn_speed/results.jsonl"):
    r = json.loads(l)
    if r.get("error") or r.get("sim_acc") is None or "params" not in r: continue
    if seeds is not None and r["seed"] not in seeds: continue
    if r["config"] in FIX: r["floor_s"] = FIX[r["config"]]
    name = r["config"]
    if name.startswith("m1_acc5_out8") and r["params"].get("module__n_hidden_neurons_multiplier") != 1:
        name = name.replace("m1_", f'm{r["params"]["module__n_hidden_neurons_multiplier"]}_')
    latest[(name, r["dataset"], r["seed"])] = r
agg = collections.defaultdict(list)
for (name, d, s), r in latest.items():
    agg[(name, d)].append(r)
configs = list(dict.fromkeys(k[0] for k in agg))
print("| config | " + " | ".join(f"{d} Δpts (n) / floor s" for d in order) + " |")
print("|---|" + "---|" * len(order))
for c in configs:
    cells = []
    for d in order:
        rs = agg.get((c, d))
        if not rs: cells.append("–"); continue
        delta = 100 * sum(r["sim_acc"] - r["float_acc"] for r in rs) / len(rs)
        floor = sum(r["floor_s"] for r in rs) / len(rs)
        flags = ("" if delta >= -1.5 else " A✗") + ("" if floor <= target[d] else " L✗")
        cells.append(f"{delta:+.1f} ({len(rs)}) / {floor:.2f}{flags}")
    print(f"| {c} | " + " | ".join(cells) + " |")
