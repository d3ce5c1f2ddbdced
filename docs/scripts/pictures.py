"""Draw the documentation's pictures into docs/images/.

- ``decision-boundaries.png``: a Veil classifier next to its float twin (scikit-learn's MLP of the same width,
  trained for the same epochs) on two 2-D problems, moons and circles;
- ``training-curve.png``: the training loss of the moons model per epoch, with its accumulator budget
  (loose at first, closing at 60% of the epochs);
- ``accuracy-latency.png``: simulated accuracy against encrypted seconds per row, from the newest
  ``make bench`` results in ``benchmarks/results/`` (measured there, not here).

Run by the docs build (``docs/scripts/hooks.py``) when a picture is missing; ``python
docs/scripts/pictures.py`` redraws them all (about a minute on 2 cores: it trains two networks).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_circles, make_moons
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).parents[2]
IMAGES = ROOT / "docs" / "images"
PICTURES = ("decision-boundaries.png", "training-curve.png", "accuracy-latency.png")
PROBLEMS = {
    "moons": lambda: make_moons(n_samples=600, noise=0.2, random_state=0),
    "circles": lambda: make_circles(n_samples=600, noise=0.1, factor=0.5, random_state=0),
}
_BENCH_RESULT = re.compile(r"\d{4}-\d{2}-\d{2}\.json")


def train_models() -> dict:
    """Per problem: the Veil model, its float twin, and the test split, with seed 0."""
    from veil.sklearn import NeuralNetClassifier

    trained = {}
    for name, make_problem in PROBLEMS.items():
        X, y = make_problem()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        model, float_model = NeuralNetClassifier(random_state=0).fit_benchmark(X_train, y_train)
        trained[name] = (model, float_model, X_test, y_test)
    return trained


def draw_decision_boundaries(trained: dict, path: Path) -> None:
    figure, axes = plt.subplots(2, 2, figsize=(9, 8), sharex="row", sharey="row")
    for row, (name, (model, float_model, X_test, y_test)) in enumerate(trained.items()):
        low, high = X_test.min(axis=0) - 0.5, X_test.max(axis=0) + 0.5
        grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200))
        grid = np.column_stack([grid_x.ravel(), grid_y.ravel()])
        # Veil's clear integer model: the same integers as the FHE circuit (exact rounding).
        for column, (label, predict_proba) in enumerate(
            [("Veil (clear integers = FHE)", model.predict_proba), ("float MLP", float_model.predict_proba)]
        ):
            axis = axes[row, column]
            probability = predict_proba(grid)[:, 1].reshape(grid_x.shape)
            axis.contourf(grid_x, grid_y, probability, levels=20, cmap="RdBu_r", alpha=0.8)
            axis.scatter(X_test[:, 0], X_test[:, 1], c=y_test, cmap="RdBu_r", edgecolors="k", s=14)
            accuracy = np.mean(predict_proba(X_test).argmax(axis=1) == y_test)
            axis.set_title(f"{name}: {label}, test accuracy {accuracy:.3f}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def draw_training_curve(model, path: Path) -> None:
    from veil.qat import GradualAccumulatorBudget

    losses = [epoch["train_loss"] for epoch in model.history]
    epochs = np.arange(1, len(losses) + 1)
    schedule = GradualAccumulatorBudget()
    budget = model.get_params()["module__n_accum_bits"] or 4  # None: 4 bits up to 32 features
    budgets = [budget + schedule.slack_bits(epoch - 1, len(losses)) for epoch in epochs]
    figure, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(epochs, losses, color="tab:blue")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    budget_axis = loss_axis.twinx()
    budget_axis.step(epochs, budgets, where="mid", color="tab:orange")
    budget_axis.set_ylabel("hidden accumulator budget, bits", color="tab:orange")
    loss_axis.set_title("Training the default classifier on moons")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def newest_bench_result() -> Path:
    results = (ROOT / "benchmarks" / "results").iterdir()
    return sorted(p for p in results if _BENCH_RESULT.fullmatch(p.name))[-1]


def draw_accuracy_latency(result_file: Path, path: Path) -> None:
    rows = [r for r in json.loads(result_file.read_text())["datasets"] if r["task"] == "classification"]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        seconds, accuracy = row["encrypted_seconds_per_row"], row["simulated_score"]
        axis.scatter(seconds, accuracy, color="tab:blue")
        axis.scatter(seconds, row["float_mlp_score"], color="tab:gray", marker="x")
        axis.annotate(row["dataset"], (seconds, accuracy), textcoords="offset points", xytext=(6, -10))
    axis.scatter([], [], color="tab:blue", label="Veil, FHE (simulated accuracy)")
    axis.scatter([], [], color="tab:gray", marker="x", label="float MLP of the same width")
    axis.set_xscale("log")
    axis.set_xlabel("encrypted inference, seconds per row (2 cores)")
    axis.set_ylabel("test accuracy")
    axis.set_title(f"Accuracy against encrypted latency (make bench, {result_file.stem})")
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(out_dir: Path = IMAGES) -> None:
    plt.switch_backend("Agg")  # files only, no display
    out_dir.mkdir(parents=True, exist_ok=True)
    draw_accuracy_latency(newest_bench_result(), out_dir / "accuracy-latency.png")
    trained = train_models()
    draw_decision_boundaries(trained, out_dir / "decision-boundaries.png")
    draw_training_curve(trained["moons"][0], out_dir / "training-curve.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else IMAGES)
