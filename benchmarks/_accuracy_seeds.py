"""``python -m benchmarks.accuracy --across-seeds RUN... --out PATH``: how a suite's gaps move with the seed.

Each run is one ``make bench-accuracy`` run (``.jsonl`` rows or ``.json`` report) at one estimator
``random_state``; the runs must differ in nothing else (same other parameters and row limit), and each
seed may appear once. The splits and the float MLP are the benchmark's own (seed 0) in every run, so a
problem's gaps differ only by what ``fit`` did under each seed. Per problem: the gap at each seed, their
median and the worst. Per task: the median over problems of their median gap, the worst gap of any
problem at any seed, and how many problems are within the tolerance at every seed.
"""

from __future__ import annotations

import json

import numpy as np

from benchmarks._accuracy_combine import OUTCOME_NEUTRAL_PARAMS, first_header, read_rows, suite_order
from benchmarks._accuracy_report import GAP_UNITS
from benchmarks._common import SEED

__all__ = ["seeds_markdown", "seeds_report"]


def seeds_report(runs: list, command: str, machine: str) -> dict:
    """The report of ``runs`` (paths) side by side by seed (see the module docstring).

    Raises ``ValueError`` naming the files when a run holds no row, when runs differ in anything but
    ``random_state``, or when two runs share a seed.
    """
    by_seed: dict[int, dict[tuple[str, str], dict]] = {}
    settings = {}
    for path in runs:
        rows = [row for row in read_rows(path) if row.get("error") is None]
        if not rows:
            raise ValueError(f"--across-seeds: {path} holds no finished rows")
        seeds = {_seed(row) for row in rows}
        if len(seeds) > 1:
            raise ValueError(f"--across-seeds: {path} mixes seeds {sorted(seeds)}")
        seed = seeds.pop()
        if seed in by_seed:
            raise ValueError(f"--across-seeds: two runs at random_state={seed}, {path} is the second")
        by_seed[seed] = {(row["problem"], row["variant"]): row for row in rows}
        settings[path.name] = {_other_settings(row) for row in rows}
    if len({setting for found in settings.values() for setting in found}) > 1:
        raise ValueError(
            "--across-seeds needs runs that differ only in random_state, got "
            + "; ".join(f"{name}: {sorted(found)}" for name, found in settings.items())
        )
    seeds = sorted(by_seed)
    ordered = suite_order([row for rows in by_seed.values() for row in rows.values()])
    tasks = {(row["problem"], row["variant"]): row["task"] for row in ordered}  # the suite's order, once each
    problems = [_problem(key, task, {s: by_seed[s].get(key) for s in seeds}) for key, task in tasks.items()]
    header = first_header(runs)
    return {
        "date": header.get("date", "unknown date"),
        "machine": header.get("machine", machine),
        "command": command,
        "seeds": seeds,
        "sources": [path.name for path in runs],
        "summary": _summary(problems, seeds),
        "problems": problems,
    }


def _seed(row: dict) -> int:
    return int((row.get("params") or {}).get("random_state", SEED))


def _other_settings(row: dict) -> str:
    params = {
        name: value
        for name, value in (row.get("params") or {}).items()
        if name != "random_state" and name not in OUTCOME_NEUTRAL_PARAMS
    }
    return json.dumps({"params": params, "max_rows": row.get("max_rows")}, sort_keys=True)


def _problem(key: tuple[str, str], task: str, rows: dict) -> dict:
    rows = {seed: row for seed, row in rows.items() if row is not None}  # a seed may lack the problem
    gaps = {seed: row["gap"] for seed, row in rows.items()}
    return {
        "problem": key[0],
        "variant": key[1],
        "task": task,
        "gaps": gaps,
        "median_gap": float(np.median(list(gaps.values()))),
        "worst_gap": min(gaps.values()),
        "latency_estimate_seconds": {seed: row.get("latency_estimate_seconds") for seed, row in rows.items()},
        "fit_seconds": {seed: row.get("fit_seconds") for seed, row in rows.items()},
    }


def _summary(problems: list[dict], seeds: list[int]) -> dict:
    summary = {}
    for task, (unit, _, tolerance) in GAP_UNITS.items():
        found = [p for p in problems if p["task"] == task]
        if not found:
            continue
        worst = min(found, key=lambda p: p["worst_gap"])
        complete = [p for p in found if len(p["gaps"]) == len(seeds)]
        summary[task] = {
            "unit": unit,
            "tolerance": tolerance,
            "problems": len(found),
            "median_of_median_gaps": float(np.median([p["median_gap"] for p in found])),
            "worst_gap": worst["worst_gap"],
            "worst_gap_problem": f"{worst['problem']} ({worst['variant']})",
            "within_tolerance_at_every_seed": sum(min(p["gaps"].values()) >= -tolerance for p in complete),
            "problems_at_every_seed": len(complete),
            "within_tolerance_at_median": sum(p["median_gap"] >= -tolerance for p in found),
        }
    latencies = [
        value for p in problems for value in p["latency_estimate_seconds"].values() if value is not None
    ]
    if latencies:
        summary["latency_estimate_seconds"] = {
            "median": float(np.median(latencies)),
            "max": max(latencies),
        }
    return summary


def seeds_markdown(report: dict) -> str:
    """The report as markdown: the summary per task, then one line per problem."""
    seeds = report["seeds"]
    lines = [
        f"# Veil accuracy suite across seeds — {report['date']}",
        "",
        f"Machine: {report['machine']}. Command: `{report['command']}`.",
        f"Runs: {', '.join(report['sources'])}; estimator random_state {seeds}. Splits and float MLP: seed "
        f"{SEED} in every run. Gap: Veil simulated minus float MLP (accuracy points, or R²).",
        "",
        "## Summary",
        "",
    ]
    for task, found in report["summary"].items():
        if task == "latency_estimate_seconds":
            lines.append(
                f"- latency estimate per row, every row of every seed: median {found['median']:.3f} s, "
                f"max {found['max']:.3f} s"
            )
            continue
        lines.append(
            f"- {task} ({found['unit']}, {found['problems']} problems): median of the per-problem median "
            f"gaps {found['median_of_median_gaps']:+.3g}; worst gap {found['worst_gap']:+.3g} "
            f"({found['worst_gap_problem']}); within {found['tolerance']:g} at every seed: "
            f"{found['within_tolerance_at_every_seed']} of {found['problems_at_every_seed']}; at the "
            f"median: {found['within_tolerance_at_median']} of {found['problems']}"
        )
    lines += [
        "",
        "| problem | variant | " + " | ".join(f"gap, seed {s}" for s in seeds) + " | median | worst | "
        "latency est. s by seed | fit s by seed |",
        "|---|---|" + "---|" * len(seeds) + "---|---|---|---|",
    ]
    for p in report["problems"]:
        gaps = [f"{p['gaps'][s]:+.3g}" if s in p["gaps"] else "—" for s in seeds]
        latency = ", ".join(f"{v:.2f}" for v in p["latency_estimate_seconds"].values() if v is not None)
        fit = ", ".join(f"{v:.0f}" for v in p["fit_seconds"].values() if v is not None)
        lines.append(
            f"| {p['problem']} | {p['variant']} | {' | '.join(gaps)} | {p['median_gap']:+.3g} | "
            f"{p['worst_gap']:+.3g} | {latency} | {fit} |"
        )
    return "\n".join(lines) + "\n"
