"""``make bench``: accuracy, cost and encrypted latency of the built-in networks on bundled datasets,
and of the digits CNN (Brevitas QAT, :mod:`benchmarks.cnn`).

Writes ``benchmarks/results/<date>.json`` and ``.md`` and an accuracy-vs-latency plot. Every number
comes from this run, including the per-lookup costs the latency estimate is priced at.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_circles,
    make_moons,
)

from benchmarks import cnn
from benchmarks._common import RESULTS, SEED, machine, score, split_dataset
from benchmarks.pbs import latency_estimate, lookup_cost_table, seconds_per_complexity_unit

MAX_EPOCHS = 50


def _datasets():
    return {
        "iris": (*load_iris(return_X_y=True), "classification"),
        "wine": (*load_wine(return_X_y=True), "classification"),
        "breast_cancer": (*load_breast_cancer(return_X_y=True), "classification"),
        "digits": (*load_digits(return_X_y=True), "classification"),
        "moons": (*make_moons(n_samples=1000, noise=0.2, random_state=SEED), "classification"),
        "circles": (
            *make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=SEED),
            "classification",
        ),
        "diabetes": (*load_diabetes(return_X_y=True), "regression"),
    }


def benchmark_dataset(name, X, y, task, seconds_per_unit, n_encrypted_rows) -> dict:
    from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor

    X_train, X_test, y_train, y_test = split_dataset(X, y, task)
    estimator = NeuralNetClassifier if task == "classification" else NeuralNetRegressor
    started = time.perf_counter()
    model, float_model = estimator(max_epochs=MAX_EPOCHS, random_state=SEED).fit_benchmark(X_train, y_train)
    fit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    model.compile(X_train)
    compile_seconds = time.perf_counter() - started
    statistics = model.fhe_circuit.statistics
    started = time.perf_counter()
    model.fhe_circuit.keygen()
    keygen_seconds = time.perf_counter() - started
    sent_key_bytes = len(model.fhe_circuit.serialized_evaluation_keys())

    clear = model.predict(X_test, fhe="disable")
    started = time.perf_counter()
    simulated = model.predict(X_test, fhe="simulate")
    simulate_rows_per_second = len(X_test) / (time.perf_counter() - started)

    # One more row than timed: the first run after keygen also expands the compressed keys on the server
    # (a one-time cost), so it is reported on its own and left out of the median.
    rows = X_test[: n_encrypted_rows + 1]
    q_rows = model.quantized_module_.quantize_input(rows.astype(np.float32))
    timings, encrypted_equals_simulated = [], True
    for i in range(len(rows)):
        started = time.perf_counter()
        encrypted = model.quantized_module_.quantized_forward(q_rows[i : i + 1], fhe="execute")
        timings.append(time.perf_counter() - started)
        expected = model.quantized_module_.quantized_forward(q_rows[i : i + 1], fhe="simulate")
        encrypted_equals_simulated &= bool(np.array_equal(encrypted, expected))
    first_row_seconds, timings = timings[0], timings[1:]
    seconds_per_row = float(np.median(timings))
    estimate = latency_estimate(statistics, seconds_per_unit)
    return {
        "dataset": name,
        "task": task,
        "n_features": int(X.shape[1]),
        "hidden_neurons": model.base_module_to_compile.n_hidden_neurons,
        "float_mlp_score": score(task, y_test, float_model.predict(X_test)),
        "clear_score": score(task, y_test, clear),
        "simulated_score": score(task, y_test, simulated),
        "clear_equals_simulated": bool(np.array_equal(clear, simulated)),
        "fit_seconds": fit_seconds,
        "compile_seconds": compile_seconds,
        "keygen_seconds": keygen_seconds,
        "serialized_evaluation_key_bytes": sent_key_bytes,
        "simulate_rows_per_second": simulate_rows_per_second,
        "encrypted_seconds_per_row": seconds_per_row,
        "encrypted_rows": len(rows),
        "first_encrypted_row_seconds": first_row_seconds,
        "encrypted_equals_simulated": encrypted_equals_simulated,
        "estimated_seconds": estimate,
        "seconds_over_estimate": seconds_per_row / estimate if estimate else None,
        **statistics.to_dict(),
    }


def _markdown(report: dict) -> str:
    lines = [
        f"# Veil benchmarks — {report['date']}",
        "",
        f"Machine: {report['machine']}. Built-in networks with default parameters, max_epochs={MAX_EPOCHS}.",
        "Scores: accuracy (classification) or R² (regression) on a 25% test split, seed 0.",
        "",
        "Per-lookup cost measured in this run (64 parallel lookups, amortized): "
        + ", ".join(f"{bits}b {seconds * 1000:.1f} ms" for bits, seconds in report["lookup_seconds"].items())
        + ". est. s: the circuit's complexity (concrete's cost model) priced at those lookups' rate.",
        "",
        "Evaluation keys: MB sent to the server (seed-compressed), and MB once expanded in its memory.",
        "enc. s/row: median over the timed rows; 1st row: the run before them, which also expands the keys.",
        "",
        "| dataset | hidden | float MLP | Veil clear | Veil simulated | Δ pts | enc. s/row | 1st row s | "
        "est. s | s/est. | keygen s | keys MB sent / server | max bits | lookups by bits | PBS | "
        "enc == sim |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["datasets"]:
        ratio = row["seconds_over_estimate"]
        delta = 100 * (row["simulated_score"] - row["float_mlp_score"])
        lines.append(
            f"| {row['dataset']} | {row['hidden_neurons']} | {row['float_mlp_score']:.3f} | "
            f"{row['clear_score']:.3f} | {row['simulated_score']:.3f} | {delta:+.1f} | "
            f"{row['encrypted_seconds_per_row']:.2f} | {row['first_encrypted_row_seconds']:.2f} | "
            f"{cnn.figure(row['estimated_seconds'])} | {cnn.figure(ratio)} | {row['keygen_seconds']:.1f} | "
            f"{row['serialized_evaluation_key_bytes'] / 1e6:.0f} / {row['server_key_bytes'] / 1e6:.0f} | "
            f"{row['max_bit_width']} | "
            f"{row['table_lookups_by_bit_width']} | {row['programmable_bootstrap_count']} | "
            f"{row['encrypted_equals_simulated']} |"
        )
    if report.get("cnn") is not None:
        lines += ["", "## Digits CNN (Brevitas QAT)", "", cnn.markdown(report["cnn"])]
    return "\n".join(lines) + "\n"


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for row in report["datasets"]:
        axis.scatter(row["encrypted_seconds_per_row"], row["simulated_score"], label=row["dataset"])
        axis.scatter(row["encrypted_seconds_per_row"], row["float_mlp_score"], marker="x", color="gray")
    if report.get("cnn") is not None:
        row = report["cnn"]
        axis.scatter(row["seconds_per_image"], row["accuracy"], marker="s", label="digits CNN (QAT)")
    axis.set_xscale("log")
    axis.set_xlabel("encrypted seconds per row (log)")
    axis.set_ylabel("test score (dots: Veil simulated, crosses: float MLP)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="*", default=None, help="subset of datasets to run")
    parser.add_argument("--encrypted-rows", type=int, default=5)
    parser.add_argument("--skip-cnn", action="store_true", help="leave out the digits CNN")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    costs = lookup_cost_table()
    seconds_per_unit = seconds_per_complexity_unit(costs)
    datasets = _datasets()
    names = args.datasets or list(datasets)
    rows = []
    for name in names:
        print(f"[bench] {name} ...", flush=True)
        rows.append(benchmark_dataset(name, *datasets[name], seconds_per_unit, args.encrypted_rows))
        print(json.dumps(rows[-1]), flush=True)
    cnn_row = None
    if not args.skip_cnn:
        print("[bench] digits CNN ...", flush=True)
        cnn_row = cnn.benchmark_digits_cnn(args.encrypted_rows, seconds_per_unit=seconds_per_unit)
        print(json.dumps(cnn_row), flush=True)
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "lookup_seconds": {str(bits): seconds for bits, seconds in costs.items()},
        "datasets": rows,
        "cnn": cnn_row,
        "total_seconds": time.perf_counter() - started,
    }
    write_report(report, RESULTS)
    print(_markdown(report))
    return 0


def write_report(report: dict, directory: Path) -> list[Path]:
    """``<date>.json``, ``<date>.md`` and ``<date>.png`` in ``directory`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{report['date']}{suffix}" for suffix in (".json", ".md", ".png")]
    paths[0].write_text(json.dumps(report, indent=2))
    paths[1].write_text(_markdown(report))
    _plot(report, paths[2])
    return paths


if __name__ == "__main__":
    status = 1
    try:
        status = main()
    finally:
        # concrete's runtime teardown resets the exit status to 0: leave with the real one.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
