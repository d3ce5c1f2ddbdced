"""Defaults of the built-in networks, each with the measurement that chose it.

Two of them depend on the data's number of features, through :func:`default_n_accum_bits` and
:func:`default_mid_rise_inputs`.
"""

from __future__ import annotations

# Defaults chosen by measurement (benchmarks/explorations/2026-11-22-*, 50 epochs, 5 data sets). A
# lookup's cost grows steeply with its precision (11 ms at 4 bits, 26 at 5, 60 at 6), and the hidden
# accumulators are what the lookups read: one hidden layer of max(n_features, 32) neurons with 4-bit
# accumulators, 5-bit past 32 features (see WIDE_INPUT_FEATURES). The old default of 4 * n_features
# neurons with 6-bit lookups was no more accurate on digits (-2.0 points against the float MLP) at 20x the
# cost. Ternary weights and 3-bit activations were kept from the first measurement (they matched 3/3/8
# bits within noise; with unbounded accumulators they lose nothing on digits).
DEFAULT_N_LAYERS = 2
# Activation scales come from running statistics over this many training steps, then become learned
# parameters. Measured with 50 epochs, two seeds, five datasets: Brevitas' 300 gives mean accuracy 0.948,
# 30 steps 0.930 (iris 0.947 against 0.855), so Brevitas' value stays.
ACTIVATION_STATS_STEPS = 300
DEFAULT_N_HIDDEN_NEURONS_MULTIPLIER = 1
DEFAULT_N_W_BITS = 2
DEFAULT_N_A_BITS = 3
DEFAULT_N_ACCUM_BITS = 4
# With 3-bit inputs and ternary weights a 4-bit accumulator reads two inputs, a 5-bit one four. Measured
# with gradual pruning over seeds 0-4 (benchmarks/explorations/2026-11-22-straight-through): digits' 64
# features lost 3.1 points against the float MLP on average at 4 bits and 1.9 at 5 bits (63 lookups,
# 26 ms each), while breast-cancer's 30 stayed within 1.3 at 4 bits. Past this many features, hidden
# layers get 5 bits.
WIDE_INPUT_FEATURES = 32
WIDE_INPUT_N_ACCUM_BITS = 5
DEFAULT_ACCUMULATOR_ROUTE = "prune"
# The output layer's accumulator feeds no table lookup: it is decrypted as is. Measured on breast-cancer
# with 5-bit hidden accumulators, a 7-bit output accumulator left concrete's parameters and cost unchanged
# while an 8-bit one raised the cost 45%. Its budget is therefore at least 7 bits unless set explicitly.
# With 5-bit output accumulators, digits lost 11 points against the float MLP; with 8 bits, 2.6. With
# 5-bit hidden ones, digits' 7-bit output doubled the keys at p_error 2**-40 (110 MB, against 57 at 6
# bits), but 6 bits lost 3.1 and 4.0 points on two seeds: 7 stays, and p_error 2**-32 brings the keys
# to 54 MB.
DEFAULT_MIN_OUTPUT_ACCUM_BITS = 7
DEFAULT_MIN_HIDDEN_NEURONS = 32
# A mid-rise input grid (levels at odd multiples of half the scale, none at zero) against the usual
# mid-tread one, gradual pruning, seeds 0-4 (benchmarks/explorations/2026-11-22-straight-through): moons
# +0.2 points against the float MLP instead of -2.4, iris -0.5 instead of +1.0, breast-cancer -0.7
# instead of -1.3, wine 0 either way; but digits -3.7 instead of -1.9. Until that is understood, inputs
# are mid-rise up to WIDE_INPUT_FEATURES features.


def default_n_accum_bits(input_dim: int) -> int:
    """Hidden accumulator budget for ``n_accum_bits=None``: 4 bits up to 32 input features, 5 above."""
    return DEFAULT_N_ACCUM_BITS if input_dim <= WIDE_INPUT_FEATURES else WIDE_INPUT_N_ACCUM_BITS


def default_mid_rise_inputs(input_dim: int) -> bool:
    """Input grid for ``mid_rise_inputs=None``: mid-rise up to 32 input features, mid-tread above."""
    return input_dim <= WIDE_INPUT_FEATURES
