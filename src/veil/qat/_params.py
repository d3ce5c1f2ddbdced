"""The quantization-aware network's parameters: one constraint table, checked with one message template.

The constraints use scikit-learn's parameter validation, so an error reads like scikit-learn's own: "The
'n_w_bits' parameter of SparseQuantNeuralNetwork must be an int in the range [2, 8]. Got 1 instead." The
estimators derive their ``module__*`` rows from this table.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, Options, StrOptions, validate_parameter_constraints
from torch import nn

from ._routes import ACCUMULATOR_ROUTES

__all__ = [
    "MAX_QUANT_BITS",
    "MIN_QUANT_BITS",
    "NETWORK_CONSTRAINTS",
    "check_accumulator_budgets",
    "check_network_params",
]

MIN_QUANT_BITS = 2
MAX_QUANT_BITS = 8


class IntegerInterval(Interval):
    """An interval of integers that refuses booleans (``True`` is an ``Integral`` to Python)."""

    def __init__(self, left: int | None, right: int | None, closed: str = "both") -> None:
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val) -> bool:
        return not isinstance(val, bool) and super().is_satisfied_by(val)


class ModuleClass(Options):
    """A subclass of ``torch.nn.Module`` (the class itself, instantiated once per layer).

    An ``Options`` only so that scikit-learn's validation accepts it as a constraint.
    """

    def __init__(self) -> None:
        super().__init__(type, set())

    def is_satisfied_by(self, val) -> bool:
        return isinstance(val, type) and issubclass(val, nn.Module)

    def __str__(self) -> str:
        return "a torch.nn.Module subclass such as torch.nn.ReLU"


def _positive() -> list:
    return [IntegerInterval(1, None, closed="left")]


def _bits() -> IntegerInterval:
    return IntegerInterval(MIN_QUANT_BITS, MAX_QUANT_BITS)


#: Constraints of every constructor argument of :class:`SparseQuantNeuralNetwork`.
NETWORK_CONSTRAINTS: dict[str, list] = {
    "input_dim": _positive(),
    "n_layers": _positive(),
    "n_outputs": _positive(),
    "n_hidden_neurons_multiplier": _positive(),
    "n_w_bits": [_bits()],
    "n_a_bits": [_bits()],
    "n_accum_bits": [None, IntegerInterval(MIN_QUANT_BITS, None, closed="left")],
    "n_prune_neurons_percentage": [Interval(Real, 0, 1, closed="left")],
    "activation_function": [ModuleClass()],
    "quant_narrow": ["boolean"],
    "quant_signed": ["boolean"],
    "power_of_two_scaling": ["boolean"],
    "accumulator_route": [StrOptions(set(ACCUMULATOR_ROUTES))],
    "n_accum_bits_output": [None, IntegerInterval(MIN_QUANT_BITS, None, closed="left")],
    "min_hidden_neurons": [None, *_positive()],
    "max_hidden_neurons": [None, IntegerInterval(1, None, closed="left")],
    "mid_rise_inputs": [None, "boolean"],
    "output_partial_sums": ["boolean"],
    "input_range": [None, Interval(Real, 0, None, closed="neither")],
    "folded_inputs": [None, "boolean"],
}


def check_network_params(params: dict, caller_name: str) -> None:
    """Raise ``ValueError`` (scikit-learn's ``InvalidParameterError``) naming the first invalid parameter.

    Also checks what no single row can: the accumulator-aware routes cannot prune neurons (their
    quantizers divide by each row's L1 norm, and an all-zero row gives NaN).
    """
    validate_parameter_constraints(
        {name: NETWORK_CONSTRAINTS[name] for name in params}, params, caller_name=caller_name
    )
    route = params.get("accumulator_route", "prune")
    if route != "prune" and params.get("n_prune_neurons_percentage", 0) > 0:
        raise ValueError(
            f"n_prune_neurons_percentage must be 0 with accumulator_route={route!r} (use 'prune' to prune "
            f"neurons), got {params['n_prune_neurons_percentage']!r}"
        )


def check_accumulator_budgets(params: dict, minimum: int) -> None:
    """Raise ``ValueError`` if a budget that is set cannot hold one input times one weight (``minimum``)."""
    for name in ("n_accum_bits", "n_accum_bits_output"):
        value = params[name]
        if value is not None and value < minimum:
            raise ValueError(
                f"{name} must be at least {minimum} to hold one {params['n_a_bits']}-bit input times one "
                f"{params['n_w_bits']}-bit weight (the smallest accumulator with one active input), "
                f"got {value}"
            )
