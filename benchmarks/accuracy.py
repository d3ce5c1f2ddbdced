"""``make bench-accuracy``: accuracy of the estimators' defaults on a broad suite, scaled and raw features.

For every problem of :mod:`benchmarks.suite` and variant: a float scikit-learn MLP, Veil's clear and simulated
scores, their gap, the circuit's table lookups by precision, a latency estimate (concrete's complexity of
the circuit, priced at lookup costs measured in this run), and fit seconds. One JSON line per finished
problem goes to ``<out>.jsonl`` as it finishes; at the end ``<out>.json``, ``<out>.md`` and ``<out>.png``
(gap against latency).

    python -m benchmarks.accuracy --only iris,moons --param max_epochs=3 --param module__n_accum_bits=6
    python -m benchmarks.accuracy --combine results/a.jsonl results/b.jsonl --out results/a-b  # one report
    python -m benchmarks.accuracy --across-seeds results/a.jsonl results/a-seed1.jsonl --out results/a-seeds
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import resample

from benchmarks._accuracy_combine import combined_report
from benchmarks._accuracy_report import markdown, plot, summarize
from benchmarks._accuracy_seeds import seeds_markdown, seeds_report
from benchmarks._common import RESULTS, SEED, machine, score, split_dataset
from benchmarks.pbs import latency_estimate, lookup_cost_table, seconds_per_complexity_unit
from benchmarks.suite import VARIANTS, problems_by_name

FLOAT_MLP_MAX_ITER = 500


def parse_args(argv=None) -> argparse.Namespace:
    names = problems_by_name()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", type=_names(names, "--only"), default=list(names), help="problems, a,b,c")
    parser.add_argument(
        "--variants", type=_names(VARIANTS, "--variants"), default=list(VARIANTS), help="scaled,raw"
    )
    parser.add_argument("--max-rows", type=int, default=None, help="subsample larger problems (stratified)")
    parser.add_argument("--jobs", type=int, default=1, help="problems run in parallel worker processes")
    parser.add_argument(
        "--out", type=Path, default=None, help="path prefix (default results/accuracy-<date>)"
    )
    parser.add_argument(
        "--param",
        action="append",
        type=_estimator_param,
        default=[],
        metavar="NAME=VALUE",
        help="estimator parameter, VALUE parsed as JSON when it can be (repeatable)",
    )
    parser.add_argument("--lookup-costs", type=Path, default=None, help="reuse a previous run's lookup costs")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the error-free rows of an existing <out>.jsonl run with the same --param and --max-rows "
        "(they keep their own latency estimates) and run the rest",
    )
    parser.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        default=None,
        metavar="RUN",
        help="run nothing: write one report from these runs' .jsonl/.json rows (later runs replace a "
        "problem's earlier row; all must share --param and --max-rows)",
    )
    parser.add_argument(
        "--note", default=None, help="with --combine: what the reader should know of the runs"
    )
    parser.add_argument(
        "--across-seeds",
        nargs="+",
        type=Path,
        default=None,
        metavar="RUN",
        help="run nothing: write the gaps of these runs side by side, one run per estimator random_state "
        "(otherwise the same settings), with per-problem medians and worst cases",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or (args.max_rows is not None and args.max_rows < 20):
        parser.error(f"--jobs must be >= 1 and --max-rows >= 20, got {args.jobs} and {args.max_rows}")
    args.param = dict(args.param)
    if args.note is not None and args.combine is None:
        parser.error("--note goes with --combine")
    if args.combine and args.across_seeds:
        parser.error("--combine and --across-seeds each make their own report: pass one")
    suffix = "-combined" if args.combine else "-seeds" if args.across_seeds else ""
    args.out = args.out or RESULTS / f"accuracy-{datetime.datetime.now(datetime.UTC).date()}{suffix}"
    return args


def _names(known, option: str):
    def parse(text: str) -> list[str]:
        chosen = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in known]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"{option} takes names from {sorted(known)}, got {unknown or text!r}"
            )
        return chosen

    return parse


def _estimator_param(text: str) -> tuple[str, object]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"--param takes NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def load_lookup_costs(path: Path | None) -> tuple[dict[int, float], str]:
    """Seconds per lookup by bit-width, measured now, or read from a JSON file, and where they came from.

    The file holds ``{"bits": seconds}`` or a report with a ``"lookup_seconds"`` entry (``make bench``'s
    or this benchmark's).
    """
    if path is None:
        return lookup_cost_table(), "measured in this run"
    content = json.loads(Path(path).read_text())
    table = content.get("lookup_seconds", content)
    try:
        costs = {int(bits): float(seconds) for bits, seconds in table.items()}
    except (AttributeError, TypeError, ValueError) as error:
        raise ValueError(f"--lookup-costs {path}: expected {{bits: seconds}}, got {table!r:.200}") from error
    if not costs:
        raise ValueError(f"--lookup-costs {path} holds no lookup costs")
    return costs, f"read from {path}"


def run_problem(name: str, variant: str, params: dict, seconds_per_unit: float, max_rows: int | None) -> dict:
    """One row of the benchmark; an exception is recorded in the row's ``error``, never raised."""
    problem = problems_by_name()[name]
    row = {"problem": name, "variant": variant, "task": problem.task, "params": params, "max_rows": max_rows}
    row["error"] = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _measure(problem, variant, params, seconds_per_unit, max_rows, row)
        except Exception as error:  # noqa: BLE001 - one failing problem must not end the suite
            row["error"] = f"{type(error).__name__}: {error}"
            row["traceback"] = traceback.format_exc(limit=-6)
    row["warnings"] = sorted({f"{w.category.__name__}: {w.message}"[:300] for w in caught})
    return row


def _measure(
    problem, variant: str, params: dict, seconds_per_unit: float, max_rows: int | None, row: dict
) -> None:
    """Fill ``row`` step by step, so a failure keeps the numbers measured before it."""
    from veil.sklearn import NeuralNetClassifier, NeuralNetRegressor

    X, y = _subsample(*problem.load(variant), problem.task, max_rows)
    row.update(n_rows=len(X), n_features=X.shape[1])
    if problem.task == "classification":
        row["n_classes"] = len(np.unique(y))
    else:
        row["n_outputs"] = 1 if y.ndim == 1 else y.shape[1]
    X_train, X_test, y_train, y_test = split_dataset(X, y, problem.task, scale_features=variant == "scaled")

    row.update(_float_mlp(problem.task, X_train, X_test, y_train, y_test))

    estimator = NeuralNetClassifier if problem.task == "classification" else NeuralNetRegressor
    model = estimator(**{"random_state": SEED, **params})
    started = time.perf_counter()
    model.fit(X_train, y_train)
    row["fit_seconds"] = time.perf_counter() - started
    row["capacity"] = _jsonable(getattr(model, "capacity_", None))
    row["hidden_neurons"] = _jsonable(getattr(model.base_module_to_compile, "n_hidden_neurons", None))
    clear = model.predict(X_test, fhe="disable")
    row["clear_score"] = score(problem.task, y_test, clear)

    started = time.perf_counter()
    model.compile(X_train)
    row["compile_seconds"] = time.perf_counter() - started
    statistics = model.fhe_circuit.statistics
    lookups = statistics.table_lookups_by_bit_width
    row["table_lookups_by_bit_width"] = {str(bits): int(count) for bits, count in sorted(lookups.items())}
    row["complexity"] = statistics.complexity
    row["latency_estimate_seconds"] = latency_estimate(statistics, seconds_per_unit)

    simulated = model.predict(X_test, fhe="simulate")
    row["simulated_score"] = score(problem.task, y_test, simulated)
    row["clear_equals_simulated"] = bool(np.array_equal(clear, simulated))
    scale = 100.0 if problem.task == "classification" else 1.0  # accuracy points; R² as is
    row["gap"] = scale * (row["simulated_score"] - row["float_score"])


def _float_mlp(task: str, X_train, X_test, y_train, y_test) -> dict:
    """Score and fit seconds of scikit-learn's MLP with its defaults (and ``max_iter=500``)."""
    float_model = (MLPClassifier if task == "classification" else MLPRegressor)(
        max_iter=FLOAT_MLP_MAX_ITER, random_state=SEED
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its ConvergenceWarning shows as float_mlp_iterations == max_iter
        started = time.perf_counter()
        float_model.fit(X_train, y_train)
    return {
        "float_fit_seconds": time.perf_counter() - started,
        "float_mlp_iterations": float_model.n_iter_,
        "float_score": score(task, y_test, float_model.predict(X_test)),
    }


def _subsample(X, y, task: str, max_rows: int | None):
    if max_rows is None or len(X) <= max_rows:
        return X, y
    stratify = y if task == "classification" else None
    return resample(X, y, n_samples=max_rows, replace=False, stratify=stratify, random_state=SEED)


def _jsonable(value):
    """``value`` as plain JSON types: dicts, lists, numbers, strings (anything else by its ``repr``)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(item) for item in value]
    for as_dict in ("to_dict", "_asdict"):
        if callable(getattr(value, as_dict, None)):
            return _jsonable(getattr(value, as_dict)())
    if hasattr(value, "__dataclass_fields__"):
        return {field: _jsonable(getattr(value, field)) for field in value.__dataclass_fields__}
    return repr(value)


def _finished_rows(path: Path, resume: bool, params: dict, max_rows: int | None) -> list[dict]:
    """Error-free rows of an earlier run with the same settings (with ``--resume``); else a fresh file."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    if not resume:
        raise SystemExit(f"{path} exists: pass --resume to keep its finished rows, or another --out")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        row
        for row in rows
        if row["error"] is None and row["params"] == params and row["max_rows"] == max_rows
    ]


def _run_all(tasks: list[tuple[str, str]], args, seconds_per_unit: float):
    """Yield rows as problems finish: in this process with ``--jobs 1``, else in worker processes."""
    if args.jobs == 1:
        for name, variant in tasks:
            yield run_problem(name, variant, args.param, seconds_per_unit, args.max_rows)
        return
    # Fresh interpreters (spawn): torch and concrete state never crosses a fork.
    threads = max(1, (os.cpu_count() or 1) // args.jobs)  # workers share the cores instead of oversubscribing
    with ProcessPoolExecutor(args.jobs, get_context("spawn"), _limit_threads, (threads,)) as pool:
        futures = {
            pool.submit(run_problem, name, variant, args.param, seconds_per_unit, args.max_rows): (
                name,
                variant,
            )
            for name, variant in tasks
        }
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool as error:  # a worker died (e.g. the runtime aborted): record, go on
                name, variant = futures[future]
                failed = {
                    "problem": name,
                    "variant": variant,
                    "params": args.param,
                    "max_rows": args.max_rows,
                }
                yield {**failed, "error": f"worker process died: {error}"}


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.combine:
        report = combined_report(args.combine, _command(argv), machine(), args.note)
        _write(report, args.out)
        return 0
    if args.across_seeds:
        report = seeds_report(args.across_seeds, _command(argv), machine())
        args.out.with_name(args.out.name + ".json").write_text(json.dumps(report, indent=2))
        text = seeds_markdown(report)
        args.out.with_name(args.out.name + ".md").write_text(text)
        print(text)
        return 0
    lines_path = args.out.with_name(args.out.name + ".jsonl")
    rows = _finished_rows(lines_path, args.resume, args.param, args.max_rows)
    lines_path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    costs, costs_source = load_lookup_costs(args.lookup_costs)
    print(f"[bench-accuracy] lookup costs {costs_source}: {costs}", flush=True)
    seconds_per_unit = seconds_per_complexity_unit(costs)

    selected = [(name, variant) for name in args.only for variant in args.variants]
    done = {(row["problem"], row["variant"]) for row in rows}
    with lines_path.open("a") as lines:
        for row in _run_all([task for task in selected if task not in done], args, seconds_per_unit):
            lines.write(json.dumps(row) + "\n")
            lines.flush()
            rows.append(row)
            shown = {key: row.get(key) for key in ("float_score", "simulated_score", "gap", "fit_seconds")}
            print(
                f"[bench-accuracy] {row['problem']} ({row['variant']}): {shown} {row['error'] or ''}",
                flush=True,
            )

    order = {task: index for index, task in enumerate(selected)}
    rows = sorted(
        (row for row in rows if (row["problem"], row["variant"]) in order),
        key=lambda row: order[(row["problem"], row["variant"])],
    )
    report = _report(args, argv, rows, costs, costs_source, seconds_per_unit)
    report["total_seconds"] = time.perf_counter() - started
    _write(report, args.out)
    return 0


def _write(report: dict, out: Path) -> None:
    """``<out>.json``, ``<out>.md`` and ``<out>.png``; the markdown is printed too."""
    out.with_name(out.name + ".json").write_text(json.dumps(report, indent=2))
    out.with_name(out.name + ".md").write_text(markdown(report))
    plot(report, out.with_name(out.name + ".png"))
    print(markdown(report))


def _command(argv) -> str:
    return " ".join(["python -m benchmarks.accuracy", *(sys.argv[1:] if argv is None else argv)])


def _report(args, argv, rows: list[dict], costs: dict, costs_source: str, seconds_per_unit: float) -> dict:
    problems = problems_by_name()
    return {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "machine": machine(),
        "command": _command(argv),
        "params": args.param,
        "max_rows": args.max_rows,
        "lookup_seconds": {str(bits): seconds for bits, seconds in sorted(costs.items())},
        "lookup_costs_source": costs_source,
        "seconds_per_complexity_unit": seconds_per_unit,
        "notes": {name: problems[name].note for name in args.only if problems[name].note},
        "summary": summarize(rows),
        "rows": rows,
    }


if __name__ == "__main__":
    from veil._exit import exit_with_status

    exit_with_status(main, "bench-accuracy")
