"""``python -m benchmarks.accuracy --combine RUN... --out PATH``: one report from the rows of several runs.

A run is a ``.jsonl`` file (rows as problems finished) or a ``.json`` report. Rows are read in the order the
runs are given; a later run's row replaces an earlier one of the same problem and variant. Every row keeps
the name of the file it came from (``source``). The runs must share their estimator parameters and row
limit: a union of runs of other settings would summarize a configuration nobody ran.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks._accuracy_report import summarize
from benchmarks._common import SEED
from benchmarks.suite import problems_by_name

__all__ = ["combined_report", "first_header", "read_rows", "suite_order"]

#: Estimator parameters that change how ``fit`` runs, never what it finds (``n_jobs``: the search's networks
#: train under the same seeds whatever the number of workers; tests/sklearn/test_capacity.py).
OUTCOME_NEUTRAL_PARAMS = ("n_jobs",)


def combined_report(runs: list[Path], command: str, machine: str, note: str | None = None) -> dict:
    """The report of the union of ``runs`` (see the module docstring), ready for ``markdown``/``plot``.

    Raises ``ValueError`` naming the files when a run holds no row, or when runs differ in parameters or
    ``max_rows``.
    """
    rows: dict[tuple[str, str], dict] = {}
    sources = []
    for path in runs:
        found = read_rows(path)
        if not found:
            raise ValueError(f"--combine: {path} holds no rows")
        for row in found:
            rows[(row["problem"], row["variant"])] = {**row, "source": row.get("source", path.name)}
        sources.append(f"{path.name} ({len(found)} rows)")
    settings = {(_setting(row.get("params")), row.get("max_rows")) for row in rows.values()}
    if len(settings) > 1:
        by_file = sorted(
            {(row["source"], json.dumps(row.get("params")), row.get("max_rows")) for row in rows.values()}
        )
        raise ValueError(
            "--combine needs runs of one setting (same --param and --max-rows), got "
            + "; ".join(f"{source}: params {params}, max_rows {limit}" for source, params, limit in by_file)
        )
    ordered = suite_order(list(rows.values()))
    header = first_header(runs)
    problems = problems_by_name()
    notes = {name: problems[name].note for name in dict.fromkeys(r["problem"] for r in ordered)}
    notes = {name: text for name, text in notes.items() if text}
    notes["sources"] = "; ".join(sources) + (f". {note}" if note else "")
    return {
        "date": f"{header.get('date', 'unknown date').removesuffix(' (combined)')} (combined)",
        "machine": header.get("machine", machine),
        "command": command,
        "params": json.loads(_setting(ordered[0].get("params"))),
        "max_rows": ordered[0].get("max_rows"),
        "lookup_seconds": header.get("lookup_seconds", {}),
        "lookup_costs_source": header.get("lookup_costs_source", "unknown")
        + " (each row keeps the latency estimate of its own run)",
        # Rows of runs before the complexity pricing priced their lookups alone: say so when any is here.
        "seconds_per_complexity_unit": (
            header.get("seconds_per_complexity_unit") if all("complexity" in r for r in ordered) else None
        ),
        "notes": notes,
        "summary": summarize(ordered),
        "rows": ordered,
    }


def _setting(params: dict | None) -> str:
    """The parameters that decide the outcome, as a canonical JSON string (the benchmark's seed spelled
    out or not)."""
    params = {"random_state": SEED, **(params or {})}
    kept = {name: value for name, value in params.items() if name not in OUTCOME_NEUTRAL_PARAMS}
    return json.dumps(kept, sort_keys=True)


def read_rows(path: Path) -> list[dict]:
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)["rows"]


def first_header(runs: list[Path]) -> dict:
    """Date, machine and lookup costs of the first run with a ``.json`` report (its own or beside it)."""
    for path in runs:
        report = path.with_suffix(".json")
        if report.exists():
            return json.loads(report.read_text())
    return {}


def suite_order(rows: list[dict]) -> list[dict]:
    """Rows in the suite's order of problems, scaled before raw."""
    position = {name: index for index, name in enumerate(problems_by_name())}
    return sorted(
        rows, key=lambda row: (position.get(row["problem"], len(position)), row["variant"] != "scaled")
    )
