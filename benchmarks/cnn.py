"""The digits CNN (Brevitas QAT) for ``make bench``: accuracy, lookups, keys and encrypted seconds per image.

The network is written for FHE: ``conv -> avgpool -> relu`` (pooling before the activation leaves 4x
fewer positions to look up), then ``conv -> relu`` down to 1x1, then a linear layer: 104 table lookups
per 8x8 image. Run it alone with ``python -m benchmarks.cnn``; ``benchmarks/run.py`` calls
:func:`benchmark_digits_cnn`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from benchmarks.pbs import floor_seconds

SEED = 0
BITS = 3
EPOCHS = 20
ROUNDING = {"n_bits": 6, "method": "exact"}


def digits_cnn(bits: int = BITS):
    """The QAT network: 1x8x8 -> 8x6x6 -> pool 8x3x3 -> relu -> 32x1x1 -> relu -> 10."""
    import brevitas.nn as qnn
    import torch

    return torch.nn.Sequential(
        qnn.QuantIdentity(bit_width=bits),
        qnn.QuantConv2d(1, 8, 3, weight_bit_width=bits),
        torch.nn.AvgPool2d(2),
        qnn.QuantReLU(bit_width=bits),
        qnn.QuantConv2d(8, 32, 3, weight_bit_width=bits),
        qnn.QuantReLU(bit_width=bits),
        torch.nn.Flatten(),
        qnn.QuantLinear(32, 10, bias=True, weight_bit_width=bits),
    )


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)


def train_classifier(model, X, y, epochs: int):
    """Adam (lr 0.01) on shuffled mini-batches of 32, cross-entropy; returns the model in eval mode."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    xs, ys = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        order = torch.randperm(len(xs))
        for start in range(0, len(xs), 32):
            batch = order[start : start + 32]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xs[batch]), ys[batch]).backward()
            optimizer.step()
    return model.eval()


def benchmark_digits_cnn(
    n_encrypted_rows: int = 3, bits: int = BITS, epochs: int = EPOCHS, costs: dict[int, float] | None = None
) -> dict:
    """Train, compile and run the digits CNN; every figure of the returned row comes from this run.

    ``costs`` (seconds per lookup by bit-width, :func:`benchmarks.pbs.lookup_cost_table`) prices the
    circuit's lookups as ``floor_seconds``; without it the floor is not computed (``None``).
    """
    import torch

    from veil.torch import compile_brevitas_qat_model

    X_train, X_test, y_train, y_test = _digits()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # small batches: one thread trains fastest and leaves the other core free
    started = time.perf_counter()
    model = train_classifier(digits_cnn(bits), X_train, y_train, epochs)
    fit_seconds = time.perf_counter() - started
    with torch.no_grad():
        brevitas_accuracy = float((model(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean())

    started = time.perf_counter()
    module = compile_brevitas_qat_model(model, X_train, rounding_threshold_bits=ROUNDING)
    compile_seconds = time.perf_counter() - started
    statistics = module.fhe_circuit.statistics
    clear = module.forward(X_test)
    simulated = module.forward(X_test, fhe="simulate")

    started = time.perf_counter()
    module.fhe_circuit.keygen()
    keygen_seconds = time.perf_counter() - started
    # One more row than timed: the first run after keygen also expands the compressed keys.
    module.forward(X_test[:1], fhe="execute")
    timings, agree = [], []
    for row in range(1, n_encrypted_rows + 1):
        started = time.perf_counter()
        encrypted = module.forward(X_test[row : row + 1], fhe="execute")
        timings.append(time.perf_counter() - started)
        agree.append(bool(np.array_equal(encrypted, clear[row : row + 1])))
    return {
        "model": f"digits CNN, Brevitas QAT {bits} bits",
        "fit_seconds": fit_seconds,
        "compile_seconds": compile_seconds,
        "brevitas_accuracy": brevitas_accuracy,
        "accuracy": float((simulated.argmax(1) == y_test).mean()),
        "clear_equals_simulate": bool(np.array_equal(clear, simulated)),
        "execute_equals_clear": all(agree),
        "keygen_seconds": keygen_seconds,
        "seconds_per_image": float(np.median(timings)),
        "encrypted_rows": n_encrypted_rows,
        "floor_seconds": None if costs is None else floor_seconds(statistics, costs),
        **statistics.to_dict(),
    }


def markdown(row: dict) -> str:
    """One table for the bench report; figures concrete or the cost table could not give read ``unknown``."""
    keys, floor = row["evaluation_key_bytes"], row.get("floor_seconds")
    return "\n".join(
        [
            "| model | accuracy (Brevitas) | s/image | floor s | keygen s | keys MB sent | lookups by bits | "
            "PBS | enc == clear |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {row['model']} | {row['accuracy']:.3f} ({row['brevitas_accuracy']:.3f}) | "
            f"{row['seconds_per_image']:.2f} | {'unknown' if floor is None else f'{floor:.2f}'} | "
            f"{row['keygen_seconds']:.1f} | {'unknown' if keys is None else f'{keys / 1e6:.0f}'} | "
            f"{row['table_lookups_by_bit_width']} | {row['programmable_bootstrap_count']} | "
            f"{row['execute_equals_clear']} |",
        ]
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3, help="encrypted images to time")
    parser.add_argument("--bits", type=int, default=BITS)
    arguments = parser.parse_args(argv)
    row = benchmark_digits_cnn(arguments.rows, arguments.bits)
    print(json.dumps(row, indent=2))
    print(markdown(row))
    if not (row["clear_equals_simulate"] and row["execute_equals_clear"]):
        raise RuntimeError("the clear, simulated and encrypted results differ")


if __name__ == "__main__":
    from veil._exit import exit_with_status

    exit_with_status(lambda: main(sys.argv[1:]), "benchmarks.cnn")
