"""The digits CNN (Brevitas QAT) for ``make bench``: accuracy, lookups, keys and encrypted seconds per image.

The network is written for FHE (the measurements behind it: ``docs/decisions/digits-cnn.md``): one
4x4 stride-2 convolution of 28 channels leaves 3x3 positions (the receptive field of a 3x3 convolution
and a 2x2 pool, without the pool's two extra accumulator bits), and a linear layer reads all 252
activations. Every accumulator is kept small by construction (:mod:`benchmarks._accumulator_masks`), so
no lookup needs a rounding bootstrap: 252 lookups of 4 bits, one per activation. Run it alone with
``python -m benchmarks.cnn``; ``benchmarks/run.py`` calls :func:`benchmark_digits_cnn`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from benchmarks._accumulator_masks import AccumulatorMasks, BudgetedLayer
from benchmarks.pbs import latency_estimate, lookup_cost_table, seconds_per_complexity_unit

SEED = 0
EPOCHS = 30
INPUT_BITS = 2
ACTIVATION_BITS = 3
WEIGHT_BITS = 2  # ternary
CHANNELS = (28,)
# The convolution's accumulator is what its lookups read (4 bits: 11 ms a lookup on 2 cores, 5 bits 26);
# the output accumulator is decrypted without a lookup, and a wider one did not change concrete's cost.
ACCUMULATOR_BITS = (4, 10)
DESIGN = {
    "channels": CHANNELS,
    "activation_bits": ACTIVATION_BITS,
    "weight_bits": WEIGHT_BITS,
    "accumulator_bits": ACCUMULATOR_BITS,
}


def digits_cnn(
    channels: tuple[int, ...] = CHANNELS,
    activation_bits: int = ACTIVATION_BITS,
    weight_bits: int = WEIGHT_BITS,
    accumulator_bits: tuple[int, ...] = ACCUMULATOR_BITS,
    input_bits: int = INPUT_BITS,
):
    """The QAT network and the masks that keep its accumulators within ``accumulator_bits`` (one per layer).

    One channel count: ``1x8x8 -> c1x3x3 (conv 4x4, stride 2) -> 10`` (linear). Two: a 3x3 convolution
    to ``c2x1x1`` before the linear layer.
    """
    import brevitas.nn as qnn
    import torch
    from brevitas.quant import Int8WeightPerChannelFloat, Uint8ActPerTensorFloat

    if len(accumulator_bits) != len(channels) + 1:
        raise ValueError(
            f"accumulator_bits needs one budget per layer ({len(channels) + 1}), got {accumulator_bits}"
        )
    # A learned per-channel weight scale: masking a channel's largest weight must not rescale the others.
    weights = {
        "weight_bit_width": weight_bits,
        "weight_quant": Int8WeightPerChannelFloat,
        "weight_scaling_impl_type": "parameter_from_stats",
    }
    quantizers = [
        qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, bit_width=input_bits, return_quant_tensor=True)
    ]
    quantizers += [qnn.QuantReLU(bit_width=activation_bits, return_quant_tensor=True) for _ in channels]
    layers = [qnn.QuantConv2d(1, channels[0], 4, stride=2, **weights)]
    if len(channels) == 2:
        layers.append(qnn.QuantConv2d(channels[0], channels[1], 3, **weights))
    features = channels[-1] * (9 if len(channels) == 1 else 1)
    layers.append(qnn.QuantLinear(features, 10, bias=True, **weights))
    steps = [step for pair in zip(quantizers[:-1], layers[:-1], strict=True) for step in pair]
    model = torch.nn.Sequential(*steps, quantizers[-1], torch.nn.Flatten(), layers[-1])
    budgeted = [BudgetedLayer(*triple) for triple in zip(quantizers, layers, accumulator_bits, strict=True)]
    return model, AccumulatorMasks(budgeted)


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)


def train_classifier(model, X, y, epochs: int, masks: AccumulatorMasks | None = None):
    """Adam (lr 0.01) on shuffled mini-batches of 32, cross-entropy; returns the model in eval mode.

    With ``masks``, the accumulator budgets close over the first 60% of the epochs (the masks follow the
    weights after every step), the learning rate decays on a cosine, and the masks are baked at the end.
    """
    import torch

    from veil.qat._budget_schedule import GradualAccumulatorBudget

    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs) if masks is not None else None
    if masks is not None:
        masks.install()
    xs, ys = torch.from_numpy(X), torch.from_numpy(y)
    for epoch in range(epochs):
        slack_bits = GradualAccumulatorBudget().slack_bits(epoch, epochs)
        order = torch.randperm(len(xs))
        for start in range(0, len(xs), 32):
            batch = order[start : start + 32]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xs[batch]), ys[batch]).backward()
            optimizer.step()
            if masks is not None:
                masks.refresh(slack_bits)
        if decay is not None:
            decay.step()
    model.eval()
    if masks is not None:
        masks.bake()
    return model


def benchmark_digits_cnn(
    n_encrypted_rows: int = 3,
    epochs: int = EPOCHS,
    seconds_per_unit: float | None = None,
    seed: int = SEED,
    **design,
) -> dict:
    """Train, compile and run the digits CNN; every figure of the returned row comes from this run.

    ``seconds_per_unit`` (:func:`benchmarks.pbs.seconds_per_complexity_unit`) prices the circuit as
    ``estimated_seconds`` (:func:`benchmarks.pbs.latency_estimate`); without it there is no estimate
    (``None``). With ``n_encrypted_rows=0`` nothing is encrypted (keygen and seconds per image are
    ``None``): compare designs by their lookups and estimate. ``seed`` seeds torch (the split stays the
    same); ``design`` overrides :func:`digits_cnn`'s arguments.
    """
    import torch

    from veil.torch import compile_brevitas_qat_model

    X_train, X_test, y_train, y_test = _digits()
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # small batches: one thread trains fastest and leaves the other core free
    started = time.perf_counter()
    model, masks = digits_cnn(**design)
    model = train_classifier(model, X_train, y_train, epochs, masks)
    fit_seconds = time.perf_counter() - started
    with torch.no_grad():
        brevitas_accuracy = float((model(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean())

    started = time.perf_counter()
    # No rounding: every accumulator already fits the lookup it feeds.
    module = compile_brevitas_qat_model(model, X_train, rounding_threshold_bits=None)
    compile_seconds = time.perf_counter() - started
    statistics = module.fhe_circuit.statistics
    clear = module.forward(X_test)
    simulated = module.forward(X_test, fhe="simulate")
    keygen_seconds, timings, agree = _encrypted_runs(module, X_test, clear, n_encrypted_rows)
    return {
        "model": _model_name(design),
        "design": {**DESIGN, **design},
        "fit_seconds": fit_seconds,
        "compile_seconds": compile_seconds,
        "brevitas_accuracy": brevitas_accuracy,
        "accuracy": float((simulated.argmax(1) == y_test).mean()),
        "clear_equals_simulate": bool(np.array_equal(clear, simulated)),
        "execute_equals_clear": all(agree) if agree else None,
        "keygen_seconds": keygen_seconds,
        "seconds_per_image": float(np.median(timings)) if timings else None,
        "encrypted_rows": n_encrypted_rows,
        "estimated_seconds": None
        if seconds_per_unit is None
        else latency_estimate(statistics, seconds_per_unit),
        **statistics.to_dict(),
    }


def _encrypted_runs(module, X_test, clear, n_rows: int):
    """Keygen seconds, seconds of each of ``n_rows`` encrypted images, whether each equals the clear run."""
    if n_rows == 0:
        return None, [], []
    started = time.perf_counter()
    module.fhe_circuit.keygen()
    keygen_seconds = time.perf_counter() - started
    # One more row than timed: the first run after keygen also expands the compressed keys.
    module.forward(X_test[:1], fhe="execute")
    timings, agree = [], []
    for row in range(1, n_rows + 1):
        started = time.perf_counter()
        encrypted = module.forward(X_test[row : row + 1], fhe="execute")
        timings.append(time.perf_counter() - started)
        agree.append(bool(np.array_equal(encrypted, clear[row : row + 1])))
    return keygen_seconds, timings, agree


def _model_name(design: dict) -> str:
    d = {**DESIGN, **design}
    return (
        f"digits CNN, Brevitas QAT: channels {'-'.join(map(str, d['channels']))}, "
        f"{d['activation_bits']}-bit activations, {d['weight_bits']}-bit weights, "
        f"accumulators {'/'.join(map(str, d['accumulator_bits']))} bits"
    )


def figure(value: float | None, digits: int = 2, scale: float = 1.0) -> str:
    """``value / scale`` with ``digits`` decimals, or ``unknown`` for a figure that could not be had."""
    return "unknown" if value is None else f"{value / scale:.{digits}f}"


def markdown(row: dict) -> str:
    """One table for the bench report; figures concrete or the cost table could not give read ``unknown``."""
    return "\n".join(
        [
            "| model | accuracy (Brevitas) | s/image | est. s | keygen s | keys MB sent | lookups by bits | "
            "PBS | enc == clear |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {row['model']} | {row['accuracy']:.3f} ({row['brevitas_accuracy']:.3f}) | "
            f"{figure(row['seconds_per_image'])} | {figure(row.get('estimated_seconds'))} | "
            f"{figure(row['keygen_seconds'], 1)} | {figure(row['evaluation_key_bytes'], 0, 1e6)} | "
            f"{row['table_lookups_by_bit_width']} | {row['programmable_bootstrap_count']} | "
            f"{row['execute_equals_clear']} |",
        ]
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3, help="encrypted images to time (0: simulate only)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED, help="torch seed (the split does not change)")
    parser.add_argument("--estimate", action="store_true", help="measure lookup costs, estimate the latency")
    parser.add_argument("--channels", type=int, nargs="+", default=CHANNELS, help="one or two convolutions")
    parser.add_argument("--activation-bits", type=int, default=ACTIVATION_BITS)
    parser.add_argument("--weight-bits", type=int, default=WEIGHT_BITS)
    parser.add_argument("--accumulator-bits", type=int, nargs="+", default=ACCUMULATOR_BITS, help="per layer")
    arguments = parser.parse_args(argv)
    unit = seconds_per_complexity_unit(lookup_cost_table()) if arguments.estimate else None
    design = {name: getattr(arguments, name) for name in DESIGN}
    design = {name: tuple(value) if isinstance(value, list) else value for name, value in design.items()}
    row = benchmark_digits_cnn(arguments.rows, arguments.epochs, unit, arguments.seed, **design)
    print(json.dumps(row, indent=2))
    print(markdown(row))
    if not row["clear_equals_simulate"] or row["execute_equals_clear"] is False:
        raise RuntimeError("the clear, simulated and encrypted results differ")


if __name__ == "__main__":
    from veil._exit import exit_with_status

    exit_with_status(lambda: main(sys.argv[1:]), "benchmarks.cnn")
