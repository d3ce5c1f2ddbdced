"""The configurations the capacity search may try, and their price in encrypted seconds.

A configuration costs its table lookups: one per hidden neuron, priced by the precision it reads (the
hidden accumulator budget, or the bits exact rounding keeps of it, plus a bootstrap per rounded bit).
:func:`candidates` lists them cheapest first within ``latency_budget``; parameters the user set are
never varied. Measurements behind the ladder: docs/decisions/capacity-search.md,
docs/decisions/rounded-candidate.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from veil.qat._defaults import DEFAULT_MIN_HIDDEN_NEURONS, DEFAULT_N_W_BITS

__all__ = ["LOOKUP_SECONDS", "Candidate", "candidates", "estimated_seconds", "input_bits_options"]

#: Seconds per table lookup by the bit-width it reads, amortized over 64 parallel lookups on a 2-core
#: machine at p_error 2**-40 (``benchmarks/pbs.py``). Used to rank candidates and to report an estimate.
LOOKUP_SECONDS = {2: 0.007, 3: 0.009, 4: 0.011, 5: 0.026, 6: 0.060, 7: 0.123, 8: 0.429}
#: Seconds per bit an accumulator loses to exact rounding: in concrete's cost model of Veil's rounded
#: circuits, each such bootstrap costs about a 4-bit lookup (docs/decisions/latency-estimate.md).
ROUNDING_BIT_SECONDS = LOOKUP_SECONDS[4]
#: Depths (linear layers) and hidden accumulator budgets the search combines. At 4 bits a neuron reads
#: two inputs and depth does not help; at 5 bits (four inputs) a second hidden layer does.
SEARCHED_N_LAYERS = (2, 3, 4)
SEARCHED_ACCUM_BITS = (4, 5, 6)
#: Input and activation bit-widths the search tries; the wider one in one-hidden-layer networks only.
SEARCHED_A_BITS = (3, 4)
#: The one-hidden-layer, 6-bit, 3-bit-input candidate reads wider neurons instead: 3-bit weights and 8-bit
#: accumulators (more inputs each), rounded exactly to 6 bits before the same lookup
#: (docs/decisions/rounded-candidate.md). Offered when the user sets none of these.
ROUNDED = {"lookup_bits": 6, "n_accum_bits": 8, "n_w_bits": 3, "n_a_bits": SEARCHED_A_BITS[0]}
#: The narrowest layer a rounded candidate is narrowed to, to fit ``latency_budget`` on wide data: the
#: default width of narrow data.
MIN_NARROWED_NEURONS = DEFAULT_MIN_HIDDEN_NEURONS
#: Offered too, replacing nothing: the same rounded neurons reading 4-bit inputs through 9-bit accumulators
#: (the finer input grid radial problems want), the dearest candidate at 32 neurons.
ROUNDED_WIDE_INPUTS = {"lookup_bits": 6, "n_accum_bits": 9, "n_w_bits": 3, "n_a_bits": SEARCHED_A_BITS[1]}
#: When ``latency_budget`` holds a rounded layer at least MIN_WIDENING times the default width, each rounded
#: configuration is also tried as wide as the budget holds, up to MAX_WIDENING times: on the hard problems
#: a rounded layer of 32 neurons scores what a float MLP of 32 neurons does, and width is what it lacks
#: (docs/decisions/widened-candidates.md). The default 3 s budget holds neither.
MIN_WIDENING = 1.5
MAX_WIDENING = 4


def estimated_seconds(
    n_hidden_neurons: int, n_hidden_layers: int, lookup_bits: int, rounded_bits: int = 0
) -> float:
    """Encrypted seconds per row if every hidden neuron stays active (idle ones cost nothing).

    A neuron costs its lookup, priced by the bits it reads, and one bootstrap per bit its accumulator
    loses to exact rounding (:data:`ROUNDING_BIT_SECONDS`).
    """
    per_neuron = LOOKUP_SECONDS[min(max(lookup_bits, 2), 8)] + rounded_bits * ROUNDING_BIT_SECONDS
    return n_hidden_layers * n_hidden_neurons * per_neuron


@dataclass(frozen=True)
class Candidate:
    """One configuration to try: the ``module__*`` values it sets, its estimated latency, and the
    ``rounding_threshold_bits`` its integer model uses (None: no rounding)."""

    module_params: dict
    estimated_seconds: float
    rounding_threshold_bits: dict | None = None

    @property
    def settings(self) -> dict:
        """What the candidate sets, as ``capacity_`` reports it: module values, and rounding if any."""
        if self.rounding_threshold_bits is None:
            return dict(self.module_params)
        return {**self.module_params, "rounding_threshold_bits": self.rounding_threshold_bits}

    def with_module_params(self, **params) -> Candidate:
        """The same candidate setting ``params`` too (its estimated latency unchanged)."""
        return replace(self, module_params={**self.module_params, **params})


def candidates(
    n_layers: int | None,
    accum_bits: int | None,
    a_bits_options: tuple[int, ...],
    min_accum_bits,
    n_hidden_neurons: int,
    latency_budget: float | None,
    w_bits: int | None = None,
    may_round: bool = False,
    rounding=None,
    may_narrow: bool = False,
) -> list[Candidate]:
    """The configurations to try, by increasing estimated latency; a set parameter is not varied.

    ``a_bits_options`` are the input and activation bit-widths to try (one unless the search may vary
    them) and ``min_accum_bits(a_bits)`` the smallest budget that holds one input times one weight.
    Candidates over ``latency_budget`` (estimated seconds per row) are dropped, except the cheapest. A
    deeper network at 4 bits is not tried (at two inputs per neuron, depth did not help), nor an input
    wider than a set budget holds, nor a searched wider input in a deeper network. Weights are
    ``w_bits`` (None: ternary); with ``may_round`` (the user set no weight bits, budget or rounding),
    the configuration :data:`ROUNDED` replaces is read through rounding instead, if the budget holds it,
    and :data:`ROUNDED_WIDE_INPUTS` is offered when its input bits and one hidden layer are. The user's
    ``rounding`` (a ``RoundingPolicy``, or None) prices each lookup by the bits it keeps. With
    ``may_narrow`` (the user left the width parameters alone), the rounded candidates are narrowed to fit
    ``latency_budget`` when the default width would not (down to :data:`MIN_NARROWED_NEURONS`), and each
    is offered widened too when the budget holds it (:data:`MIN_WIDENING`, :data:`MAX_WIDENING`).
    """
    layer_options = SEARCHED_N_LAYERS if n_layers is None else (n_layers,)
    bits_options = SEARCHED_ACCUM_BITS if accum_bits is None else (accum_bits,)
    if accum_bits is not None:  # a wider input that the user's budget cannot hold is not an option
        a_bits_options = tuple(a for a in a_bits_options if min_accum_bits(a) <= accum_bits) or a_bits_options
    configurations = {
        (layers, max(bits, min_accum_bits(a_bits)), a_bits)
        for layers in layer_options
        for bits in bits_options
        for a_bits in a_bits_options
    }
    if n_layers is None:  # at two inputs per neuron (4 bits), depth did not help
        configurations = {(layers, bits, a) for layers, bits, a in configurations if layers == 2 or bits > 4}
    if len(a_bits_options) > 1:  # 4-bit activations would leave a second hidden layer's neurons one input
        narrowest = min(a_bits_options)
        configurations = {
            (layers, bits, a) for layers, bits, a in configurations if layers == 2 or a == narrowest
        }
    weights = DEFAULT_N_W_BITS if w_bits is None else w_bits
    replaced = (2, ROUNDED["lookup_bits"], ROUNDED["n_a_bits"])  # the configuration ROUNDED reads instead
    rounded_configurations = []
    if may_round and replaced in configurations:
        rounded_configurations.append(ROUNDED)
    if may_round and 2 in layer_options and ROUNDED_WIDE_INPUTS["n_a_bits"] in a_bits_options:
        rounded_configurations.append(ROUNDED_WIDE_INPUTS)

    def candidate(layers: int, bits: int, a_bits: int) -> Candidate:
        lookup = bits if rounding is None else min(bits, rounding.kept_bits(a_bits))
        plain = Candidate(
            {"n_layers": layers, "n_accum_bits": bits, "n_a_bits": a_bits, "n_w_bits": weights},
            estimated_seconds(n_hidden_neurons, layers - 1, lookup, rounded_bits=bits - lookup),
        )
        if ROUNDED in rounded_configurations and (layers, bits, a_bits) == replaced:
            rounded = _rounded(n_hidden_neurons, ROUNDED, latency_budget if may_narrow else None)
            if latency_budget is None or rounded.estimated_seconds <= latency_budget:
                return rounded  # else the plain one stays, which the budget may still hold
        return plain

    offered = [candidate(*configuration) for configuration in configurations]
    if ROUNDED_WIDE_INPUTS in rounded_configurations:
        offered.append(
            _rounded(n_hidden_neurons, ROUNDED_WIDE_INPUTS, latency_budget if may_narrow else None)
        )
    if may_narrow:
        widened = (_widened(n_hidden_neurons, c, latency_budget) for c in rounded_configurations)
        offered.extend(wide for wide in widened if wide is not None)
    found = sorted(
        offered,
        key=lambda c: (c.estimated_seconds, c.module_params["n_layers"], c.module_params.get("n_a_bits", 0)),
    )
    within = [c for c in found[1:] if latency_budget is None or c.estimated_seconds <= latency_budget]
    return [found[0], *within]


def _rounded(n_hidden_neurons: int, configuration: dict, narrow_to: float | None = None) -> Candidate:
    """A rounded ``configuration``: one hidden layer, accumulators rounded exactly to its lookup.

    With ``narrow_to`` (estimated seconds), a layer too wide for it is narrowed to fit, down to
    :data:`MIN_NARROWED_NEURONS` (``max_hidden_neurons``).
    """
    per_neuron = _rounded_neuron_seconds(configuration)
    if narrow_to is not None and n_hidden_neurons * per_neuron > narrow_to:
        width = min(n_hidden_neurons, max(MIN_NARROWED_NEURONS, int(narrow_to / per_neuron)))
        return _rounded_layer(configuration, width, "max_hidden_neurons")
    return _rounded_layer(configuration, n_hidden_neurons)


def _widened(n_hidden_neurons: int, configuration: dict, latency_budget: float | None) -> Candidate | None:
    """A rounded ``configuration`` as wide as ``latency_budget`` holds, up to :data:`MAX_WIDENING` times
    ``n_hidden_neurons`` (``min_hidden_neurons``); None if that is under :data:`MIN_WIDENING` times."""
    widest = MAX_WIDENING * n_hidden_neurons
    if latency_budget is not None:
        widest = min(widest, int(latency_budget / _rounded_neuron_seconds(configuration)))
    if widest < MIN_WIDENING * n_hidden_neurons:
        return None
    return _rounded_layer(configuration, widest, "min_hidden_neurons")


def _rounded_layer(configuration: dict, width: int, width_param: str | None = None) -> Candidate:
    """One hidden layer of ``width`` rounded neurons; ``width_param`` is the module parameter that sets
    that width (None: the default width)."""
    module_params = {
        "n_layers": 2,
        **{name: configuration[name] for name in ("n_accum_bits", "n_a_bits", "n_w_bits")},
    }
    if width_param is not None:
        module_params[width_param] = width
    rounding = {"n_bits": configuration["lookup_bits"], "method": "exact"}
    return Candidate(module_params, width * _rounded_neuron_seconds(configuration), rounding)


def _rounded_neuron_seconds(configuration: dict) -> float:
    lookup = configuration["lookup_bits"]
    return estimated_seconds(1, 1, lookup, rounded_bits=configuration["n_accum_bits"] - lookup)


def input_bits_options(n_a_bits: int | None, searching: bool = True) -> tuple[int, ...]:
    """Input and activation bit-widths to try: the user's, else 3, and 4 too when searching.

    The input grid caps what any network can learn, whatever its fan-in (docs/decisions/capacity-search.md).
    """
    if n_a_bits is not None:
        return (n_a_bits,)
    return SEARCHED_A_BITS if searching else SEARCHED_A_BITS[:1]
