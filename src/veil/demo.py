"""``make demo``: train a built-in network on breast-cancer data, compile it, infer on encrypted rows.

Prints the float baseline, the quantized (clear integers), simulated and encrypted accuracy, and the
encrypted latency per row. In a terminal, progress bars follow training, compilation, key generation and
the encrypted rows (``veil.set_progress(False)`` hides them; they are hidden when standard error is not
a terminal).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from veil._exit import exit_with_status
from veil._logging import show_logs
from veil._progress import stage

N_ENCRYPTED_ROWS = 8


def _report(label: str, value: str) -> None:
    """One line of the summary, the values aligned in a column."""
    print(f"{label:<46}: {value}")


def run(n_encrypted_rows: int = N_ENCRYPTED_ROWS) -> None:
    from veil.sklearn import NeuralNetClassifier

    network = NeuralNetClassifier(max_epochs=50, random_state=0)
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    n_train, n_test = len(X_train), len(X_test)
    print(f"breast-cancer: {n_train} training rows, {n_test} test rows, {X.shape[1]} features")
    started = time.perf_counter()
    with warnings.catch_warnings():
        # The float twin gets the same 50 epochs as Veil's network on purpose (one training budget for
        # both); scikit-learn's MLP says it would go on converging, which is not the demo user's doing.
        warnings.filterwarnings("ignore", "Stochastic Optimizer: Maximum iterations", ConvergenceWarning)
        model, float_model = network.fit_benchmark(X_train, y_train)
    print(f"quantization-aware training: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    model.compile(X_train)
    statistics = model.fhe_circuit.statistics
    print(
        f"compiled in {time.perf_counter() - started:.1f} s: "
        f"largest integer {statistics.max_bit_width} bits, "
        f"table lookups by bit-width {statistics.table_lookups_by_bit_width}, "
        f"evaluation keys {statistics.evaluation_key_bytes / 1e6:.0f} MB"
    )
    started = time.perf_counter()
    with stage("key generation"):  # the circuit's keygen reports nothing while it runs
        model.fhe_circuit.keygen()
    print(f"key generation: {time.perf_counter() - started:.1f} s")

    rows = X_test[:n_encrypted_rows]
    started = time.perf_counter()
    encrypted = model.predict(rows, fhe="execute")
    seconds_per_row = (time.perf_counter() - started) / len(rows)
    clear = model.predict(X_test, fhe="disable")
    simulated = model.predict(X_test, fhe="simulate")

    print()
    _report("float MLP (scikit-learn, same width) accuracy", f"{float_model.score(X_test, y_test):.3f}")
    _report("quantized, clear integers accuracy", f"{np.mean(clear == y_test):.3f}")
    _report("FHE simulation accuracy", f"{np.mean(simulated == y_test):.3f}")
    encrypted_accuracy = np.mean(encrypted == y_test[: len(rows)])
    same_as_clear = bool(np.all(encrypted == clear[: len(rows)]))
    _report(
        f"encrypted accuracy on {len(rows)} rows",
        f"{encrypted_accuracy:.3f} (identical to clear on those rows: {same_as_clear})",
    )
    _report("encrypted latency", f"{seconds_per_row:.2f} s per row")


def main() -> None:
    """Run the demo; exit with its real status (concrete's teardown would otherwise reset it to 0)."""
    show_logs()
    exit_with_status(run, "make demo")


if __name__ == "__main__":
    main()
