"""Defaults of the built-in quantization-aware network, and the data-dependent ones in one function.

Each value was chosen by a measurement recorded under ``docs/decisions/``; the comments say what it is for.
"""

from __future__ import annotations

DEFAULT_N_LAYERS = 2
DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER = 1
# Ternary weights and 3-bit activations: as accurate as 3/3 bits at the small accumulators FHE wants.
DEFAULT_N_W_BITS = 2
DEFAULT_N_A_BITS = 3
# The fewest hidden neurons: with few features, a width of n_features leaves too few neurons once the
# accumulator budgets prune each one down to a handful of inputs (idle neurons cost no lookup).
DEFAULT_MIN_HIDDEN_NEURONS = 32
# Hidden accumulators are what the table lookups read: their budget sets the lookup precision, the main
# lever on encrypted latency (a lookup costs ~11 ms at 4 bits, 26 at 5, 60 at 6 on 2 cores).
DEFAULT_N_ACCUM_BITS = 4
WIDE_INPUT_FEATURES = 32
WIDE_INPUT_N_ACCUM_BITS = 5
# The output accumulator is decrypted without a lookup: up to 7 bits it costs nothing more.
DEFAULT_MIN_OUTPUT_ACCUM_BITS = 7
# Brevitas' quantizers collect running statistics for this many steps, then learn their scales.
ACTIVATION_STATS_STEPS = 300
DEFAULT_ACCUMULATOR_ROUTE = "prune"


def default_n_accum_bits(input_dim: int) -> int:
    """Hidden accumulator budget for ``n_accum_bits=None``: 4 bits up to 32 input features, 5 above."""
    return DEFAULT_N_ACCUM_BITS if input_dim <= WIDE_INPUT_FEATURES else WIDE_INPUT_N_ACCUM_BITS


def default_mid_rise_inputs(input_dim: int) -> bool:
    """Input grid for ``mid_rise_inputs=None``: mid-rise (no level at zero) up to 32 input features."""
    return input_dim <= WIDE_INPUT_FEATURES


def hidden_width(input_dim: int, multiplier: int, min_neurons: int | None, max_neurons: int | None) -> int:
    """Neurons a hidden layer has: ``multiplier * input_dim``, at least ``min_neurons`` (None:
    ``DEFAULT_MIN_HIDDEN_NEURONS``), at most ``max_neurons`` (None: no cap; it wins over the floor)."""
    floor = DEFAULT_MIN_HIDDEN_NEURONS if min_neurons is None else min_neurons
    width = max(multiplier * input_dim, floor)
    return width if max_neurons is None else min(width, max_neurons)
