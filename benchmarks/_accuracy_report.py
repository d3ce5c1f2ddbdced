"""Summary, markdown table and plot of a ``make bench-accuracy`` run (see :mod:`benchmarks.accuracy`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Per task: the gap's unit, the factor from score to that unit, and the tolerance the issue asks for.
GAP_UNITS = {"classification": ("points", 100.0, 2.0), "regression": ("R²", 1.0, 0.03)}


def summarize(rows: list[dict]) -> dict:
    """Worst and median gap per task, problems within tolerance, raw − scaled, latency and fit totals."""
    finished = [row for row in rows if row.get("error") is None]
    summary = {
        "rows": len(rows),
        "errors": [
            f"{row['problem']} ({row['variant']}): {row['error']}" for row in rows if row.get("error")
        ],
        "clear_equals_simulated_everywhere": all(row["clear_equals_simulated"] for row in finished),
        "total_fit_seconds": sum(row.get("fit_seconds", 0.0) for row in rows),
    }
    for task, (unit, factor, tolerance) in GAP_UNITS.items():
        task_rows = [row for row in finished if row["task"] == task]
        if task_rows:
            summary[task] = _gap_summary(task_rows, unit, factor, tolerance)
    latencies = [row for row in finished if row["latency_estimate_seconds"] is not None]
    if latencies:
        slowest = max(latencies, key=lambda row: row["latency_estimate_seconds"])
        summary["latency_estimate_seconds"] = {
            "median": float(np.median([row["latency_estimate_seconds"] for row in latencies])),
            "max": slowest["latency_estimate_seconds"],
            "max_problem": f"{slowest['problem']} ({slowest['variant']})",
        }
    return summary


def _gap_summary(rows: list[dict], unit: str, factor: float, tolerance: float) -> dict:
    worst = min(rows, key=lambda row: row["gap"])
    raw_minus_scaled = raw_minus_scaled_by_problem(rows, factor)
    summary = {
        "unit": unit,
        "worst_gap": worst["gap"],
        "worst_gap_problem": f"{worst['problem']} ({worst['variant']})",
        "median_gap": float(np.median([row["gap"] for row in rows])),
        "tolerance": tolerance,
        "within_tolerance": sum(row["gap"] >= -tolerance for row in rows),
        "rows": len(rows),
        "raw_minus_scaled": raw_minus_scaled,
    }
    if raw_minus_scaled:
        worst_problem = min(raw_minus_scaled, key=raw_minus_scaled.get)
        summary["worst_raw_minus_scaled"] = raw_minus_scaled[worst_problem]
        summary["worst_raw_minus_scaled_problem"] = worst_problem
    return summary


def raw_minus_scaled_by_problem(rows: list[dict], factor: float) -> dict[str, float]:
    """Simulated score of the raw variant minus its scaled twin's, per problem that has both (gap units)."""
    simulated = {(row["problem"], row["variant"]): row["simulated_score"] for row in rows}
    return {
        problem: factor * (simulated[(problem, "raw")] - simulated[(problem, "scaled")])
        for problem, variant in simulated
        if variant == "raw" and (problem, "scaled") in simulated
    }


def markdown(report: dict) -> str:
    """The run as a markdown page: settings, summary, one table row per problem and variant."""
    costs = ", ".join(
        f"{bits}b {seconds * 1000:.1f} ms" for bits, seconds in report["lookup_seconds"].items()
    )
    lines = [
        f"# Veil accuracy suite — {report['date']}",
        "",
        f"Machine: {report['machine']}. Command: `{report['command']}`.",
        f"Veil estimators: defaults except { ({'random_state': 0} | report['params']) }; "
        + (
            f"problems subsampled to at most {report['max_rows']} rows."
            if report["max_rows"]
            else "all rows."
        ),
        "",
        "Scores on a fixed 25% test split (seed 0, stratified for classification): accuracy, or R² "
        "averaged over the targets (linnerud: all three). Regression targets are standardized on the "
        "training split in both variants. *scaled*: features standardized on the training split; *raw*: "
        "feature j rescaled to a standard deviation of 10^u_j, u_j spread over [-3, 3], plus an offset of up "
        "to 10 of them, passed as is.",
        "Float MLP: scikit-learn's MLPClassifier / MLPRegressor with its defaults, max_iter=500.",
        "Gap: Veil simulated minus float MLP, in accuracy points or in R²; *within* counts gaps ≥ −tolerance "
        "(a gain is within).",
        _latency_line(report, costs),
        "",
        "## Summary",
        "",
        *_summary_lines(report["summary"]),
        *(f"- note, {problem}: {note}" for problem, note in report["notes"].items()),
        "",
        "| problem | variant | rows | features | classes / outputs | float MLP | Veil clear | Veil simulated "
        "| gap | raw − scaled | clear == sim | lookups by bits | latency est. s | fit s | hidden | capacity "
        "| error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_table_row(row, report["summary"]) for row in report["rows"]]
    return "\n".join(lines) + "\n"


def _summary_lines(summary: dict) -> list[str]:
    lines = []
    for task, (unit, _, _) in GAP_UNITS.items():
        if task not in summary:
            continue
        part = summary[task]
        line = (
            f"- {task} ({unit}): worst gap {_number(part['worst_gap'], unit)} ({part['worst_gap_problem']}), "
            f"median {_number(part['median_gap'], unit)}, within {part['tolerance']} {unit}: "
            f"{part['within_tolerance']} of {part['rows']}"
        )
        if "worst_raw_minus_scaled" in part:
            line += (
                f"; worst raw − scaled {_number(part['worst_raw_minus_scaled'], unit)} "
                f"({part['worst_raw_minus_scaled_problem']})"
            )
        lines.append(line)
    if "latency_estimate_seconds" in summary:
        latency = summary["latency_estimate_seconds"]
        lines.append(
            f"- latency estimate per row: median {latency['median']:.3f} s, "
            f"max {latency['max']:.3f} s ({latency['max_problem']})"
        )
    lines.append(f"- clear == simulate on every finished row: {summary['clear_equals_simulated_everywhere']}")
    lines.append(f"- total fit seconds (Veil): {summary['total_fit_seconds']:.0f}")
    lines.append(
        f"- errors: {len(summary['errors'])}" + "".join(f"\n  - {error}" for error in summary["errors"])
    )
    return lines


def _table_row(row: dict, summary: dict) -> str:
    unit = GAP_UNITS[row["task"]][0] if "task" in row else "points"
    raw_minus_scaled = summary.get(row.get("task"), {}).get("raw_minus_scaled", {})
    twin = raw_minus_scaled.get(row["problem"]) if row["variant"] == "raw" else None
    classes = row.get("n_classes", row.get("n_outputs"))
    cells = [
        row["problem"],
        row["variant"],
        row.get("n_rows"),
        row.get("n_features"),
        classes,
        _number(row.get("float_score")),
        _number(row.get("clear_score")),
        _number(row.get("simulated_score")),
        _number(row.get("gap"), unit),
        _number(twin, unit),
        row.get("clear_equals_simulated"),
        row.get("table_lookups_by_bit_width"),
        _number(row.get("latency_estimate_seconds")),
        _number(row.get("fit_seconds"), "seconds"),
        row.get("hidden_neurons"),
        row.get("capacity"),
        (row.get("error") or "")[:120].replace("|", "/").replace("\n", " "),
    ]
    return "| " + " | ".join("—" if cell is None else str(cell) for cell in cells) + " |"


def _number(value, unit: str | None = None) -> str | None:
    if value is None:
        return None
    if unit == "points":
        return f"{value:+.1f}"
    if unit == "R²":
        return f"{value:+.3f}"
    if unit == "seconds":
        return f"{value:.1f}"
    return f"{value:.3f}"


def plot(report: dict, path: Path) -> None:
    """Gap against latency estimate, one point per problem and variant; one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    figure, axes = plt.subplots(1, 2, figsize=(12, 5))
    for axis, (task, (unit, _, tolerance)) in zip(axes, GAP_UNITS.items(), strict=True):
        rows = [
            row
            for row in report["rows"]
            if row.get("task") == task and row.get("error") is None and row["latency_estimate_seconds"]
        ]
        axis.set_title(f"{task} ({len(rows)} rows)")
        if not rows:  # an empty panel cannot take a log scale
            continue
        for variant, marker in (("scaled", "o"), ("raw", "^")):
            points = [row for row in rows if row["variant"] == variant]
            axis.scatter(
                [row["latency_estimate_seconds"] for row in points],
                [row["gap"] for row in points],
                marker=marker,
                label=variant,
            )
        for row in rows:
            if row["gap"] < -tolerance:  # name the problems that miss the tolerance
                axis.annotate(row["problem"], (row["latency_estimate_seconds"], row["gap"]), fontsize=7)
        axis.axhline(-tolerance, color="gray", linestyle="--", linewidth=1)
        axis.axhline(0, color="black", linewidth=0.5)
        axis.set_xscale("log")
        # Ticks at 1, 2 and 5 of each decade: readable whether the latencies span one decade or several.
        axis.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        # Linear within the tolerance, logarithmic beyond: a gap of -1 and one of -1000 both stay readable.
        axis.set_yscale("symlog", linthresh=tolerance)
        axis.set_xlabel("latency estimate, seconds per encrypted row (log)")
        axis.set_ylabel(f"gap: Veil simulated − float MLP ({unit})")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _latency_line(report: dict, costs: str) -> str:
    """How the latency estimates were priced (runs before the complexity pricing priced lookups alone)."""
    unit = report.get("seconds_per_complexity_unit")
    if unit is None:
        return (
            f"Latency estimate: the circuit's lookups priced at lookup costs {report['lookup_costs_source']} "
            f"({costs}); a lower bound, not a timed encrypted run."
        )
    return (
        "Latency estimate: the circuit's complexity (concrete's cost model of the compiled circuit) at "
        f"{unit * 1e9:.3f} s per 10^9 units, the median rate of the lookup costs "
        f"{report['lookup_costs_source']} "
        f"({costs}); not a timed encrypted run."
    )
