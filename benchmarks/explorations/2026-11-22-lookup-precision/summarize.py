import json, collections, sys
rows = [json.loads(l) for l in open("/tmp/qnn_speed/results.jsonl")]
# screen-1 rounding runs were costed from veil's table_lookups_by_bit_width (counts round nodes as lookups at
# full width); corrected by hand from the graph (tlu precision = width - lsbs_to_remove, exact rounding PBS at 7 ms)
FIX = {"m1_acc6_r4": 2.786, "m1_acc7_r4": 3.441, "m2_acc5_r4": 2.59, "m4_acc6_r4": 10.37}
order = ["digits", "breast_cancer", "wine", "iris", "moons"]
target = {"digits": 3, "breast_cancer": 1.5, "wine": 1, "iris": 0.3, "moons": 0.3}
agg = collections.defaultdict(list)
for r in rows:
    if r.get("error") or r.get("sim_acc") is None: continue
    if r["config"] in FIX: r["floor_s"] = FIX[r["config"]]
    agg[(r["config"], r["dataset"])].append(r)
configs = list(dict.fromkeys(r["config"] for r in rows))
print("| config | " + " | ".join(f"{d} Δpts (n) / floor s" for d in order) + " | meets both |")
print("|---|" + "---|" * (len(order) + 1))
for c in configs:
    cells, ok = [], True
    for d in order:
        rs = agg.get((c, d))
        if not rs: cells.append("–"); ok = False; continue
        delta = 100 * sum(r["sim_acc"] - r["float_acc"] for r in rs) / len(rs)
        floor = sum(r["floor_s"] for r in rs) / len(rs)
        good = delta >= -1.5 and floor <= target[d]
        ok &= good and len(rs) >= 2
        cells.append(f"{delta:+.1f} ({len(rs)}) / {floor:.2f}{'' if good else ' ✗'}")
    print(f"| {c} | " + " | ".join(cells) + f" | {'YES' if ok else 'no'} |")
