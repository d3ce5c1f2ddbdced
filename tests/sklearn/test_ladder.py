"""The capacity search's ladder: which configurations it may try, their order and their price."""

import pytest

from veil.qat import SparseQuantNeuralNetwork
from veil.quantization import RoundingPolicy
from veil.sklearn import NeuralNetClassifier
from veil.sklearn._capacity import default_width
from veil.sklearn._ladder import LOOKUP_SECONDS, candidates, estimated_seconds, input_bits_options


def _bits(candidate_list, *names):
    return [tuple(c.module_params[name] for name in names) for c in candidate_list]


def test_candidates_are_ordered_by_estimated_latency_and_respect_the_budget():
    minimum = {3: 4, 4: 5}.get
    found = candidates(None, None, (3,), minimum, n_hidden_neurons=32, latency_budget=3.0)
    assert _bits(found, "n_layers", "n_accum_bits") == [(2, 4), (2, 5), (3, 5), (2, 6), (4, 5)]
    seconds = [c.estimated_seconds for c in found]
    assert seconds == sorted(seconds)
    assert seconds[0] == pytest.approx(32 * LOOKUP_SECONDS[4])
    assert seconds[-1] == pytest.approx(3 * 32 * LOOKUP_SECONDS[5])
    # 4-bit inputs are tried next to 3-bit ones at the same cost, never at the 4-bit budget they overflow.
    both = candidates(None, None, (3, 4), minimum, 32, latency_budget=1.0)
    assert _bits(both, "n_layers", "n_accum_bits", "n_a_bits") == [(2, 4, 3), (2, 5, 3), (2, 5, 4)]
    # A tight budget keeps the cheapest candidate only; a set parameter is never varied.
    assert len(candidates(None, None, (3,), minimum, 32, latency_budget=0.01)) == 1
    assert {c.module_params["n_layers"] for c in candidates(3, None, (3,), minimum, 32, None)} == {3}
    assert {c.module_params["n_accum_bits"] for c in candidates(None, 5, (3,), minimum, 32, None)} == {5}
    # A set budget keeps only the inputs it can hold.
    assert _bits(candidates(None, 4, (3, 4), minimum, 32, None), "n_layers", "n_a_bits") == [(2, 3)]
    fixed = candidates(2, 6, (3,), minimum, 32, latency_budget=None)
    assert [c.module_params for c in fixed] == [
        {"n_layers": 2, "n_accum_bits": 6, "n_a_bits": 3, "n_w_bits": 2}
    ]
    # The user's rounding prices a lookup by the bits it keeps, plus a bootstrap per removed bit.
    (rounded,) = candidates(2, 8, (3,), minimum, 32, None, w_bits=3, rounding=RoundingPolicy(6))
    assert rounded.estimated_seconds == pytest.approx(estimated_seconds(32, 1, 6, rounded_bits=2))
    (auto,) = candidates(2, 8, (4,), minimum, 32, None, w_bits=3, rounding=RoundingPolicy("auto"))
    assert auto.estimated_seconds == pytest.approx(estimated_seconds(32, 1, 6, rounded_bits=2))
    # Budgets below what one input times one weight needs are raised to it.
    assert {c.module_params["n_accum_bits"] for c in candidates(2, None, (3,), lambda a: 6, 32, None)} == {6}
    # Searched 4-bit inputs only in one-hidden-layer networks.
    ladder = candidates(None, None, (3, 4), minimum, 32, latency_budget=3.0)
    assert _bits(ladder, "n_layers", "n_accum_bits", "n_a_bits") == [
        (2, 4, 3),
        (2, 5, 3),
        (2, 5, 4),
        (3, 5, 3),
        (2, 6, 3),
        (2, 6, 4),
        (4, 5, 3),
    ]
    assert _bits(candidates(3, None, (3, 4), minimum, 32, None), "n_a_bits") == [(3,)] * 3
    # Weights: ternary unless set; when Veil may round, the (2, 6, 3) configuration reads rounded 8-bit
    # accumulators of 3-bit weights instead, priced as its lookup plus a 4-bit lookup per rounded bit.
    assert {c.module_params["n_w_bits"] for c in candidates(None, None, (3,), minimum, 32, None, 4)} == {4}
    rounded = candidates(None, None, (3, 4), minimum, 32, latency_budget=3.0, may_round=True)
    assert _bits(rounded, "n_layers", "n_accum_bits", "n_a_bits", "n_w_bits") == [
        (2, 4, 3, 2),
        (2, 5, 3, 2),
        (2, 5, 4, 2),
        (3, 5, 3, 2),
        (2, 6, 4, 2),
        (4, 5, 3, 2),
        (2, 8, 3, 3),
        (2, 9, 4, 3),  # the rounded one reading 4-bit inputs, offered when 4-bit inputs are
    ]
    assert [c.rounding_threshold_bits for c in rounded].count(None) == 6
    assert rounded[7].estimated_seconds == pytest.approx(32 * (LOOKUP_SECONDS[6] + 3 * LOOKUP_SECONDS[4]))
    # A budget too tight for the rounded one keeps the plain (2, 6, 3) candidate it would replace.
    tight = candidates(None, None, (3,), minimum, 32, latency_budget=2.0, may_round=True)
    assert _bits(tight, "n_layers", "n_accum_bits", "n_w_bits")[-1] == (2, 6, 2)
    assert rounded[6].rounding_threshold_bits == {"n_bits": 6, "method": "exact"}
    assert rounded[6].estimated_seconds == pytest.approx(32 * (LOOKUP_SECONDS[6] + 2 * LOOKUP_SECONDS[4]))
    assert rounded[6].settings == {
        **rounded[6].module_params,
        "rounding_threshold_bits": {"n_bits": 6, "method": "exact"},
    }
    assert input_bits_options(None) == (3, 4) and input_bits_options(5) == (5,)
    assert input_bits_options(None, searching=False) == (3,)


def test_rounded_candidates_are_narrowed_to_fit_the_budget_on_wide_data():
    minimum = {3: 4, 4: 5}.get
    assert all("max_hidden_neurons" not in c.module_params for c in _ladder(minimum, 32, may_narrow=True))
    wide = {c.module_params["n_accum_bits"]: c for c in _ladder(minimum, 40, may_narrow=True)}
    # 40 neurons would cost 3.28 s (8 to 6) and 3.72 s (9 to 6): narrowed to what 3 s holds.
    assert wide[8].module_params["max_hidden_neurons"] == 36
    assert wide[8].estimated_seconds == pytest.approx(36 * (LOOKUP_SECONDS[6] + 2 * LOOKUP_SECONDS[4]))
    assert wide[9].module_params["max_hidden_neurons"] == 32
    assert all(c.estimated_seconds <= 3.0 for c in wide.values())
    # Never narrower than 32 neurons; and not at all when the user set the width's cap.
    tight = _ladder(minimum, 40, budget=2.0, may_narrow=True)
    assert 8 not in {c.module_params["n_accum_bits"] for c in tight}
    kept = _ladder(minimum, 40, may_narrow=False)
    assert {8, 9}.isdisjoint(c.module_params["n_accum_bits"] for c in kept)


def test_only_a_width_left_to_veil_is_narrowed():
    default = {"max_hidden_neurons": None, "n_hidden_neurons_multiplier": 1, "min_hidden_neurons": None}
    assert default_width(default)
    for user in ({"max_hidden_neurons": 40}, {"n_hidden_neurons_multiplier": 2}, {"min_hidden_neurons": 32}):
        assert not default_width({**default, **user}), user


def _ladder(minimum, width: int, budget: float = 3.0, may_narrow: bool = False) -> list:
    return candidates(None, None, (3, 4), minimum, width, budget, may_round=True, may_narrow=may_narrow)


def test_a_budget_that_holds_wider_rounded_layers_lets_the_search_try_them():
    minimum = {3: 4, 4: 5}.get
    per_neuron = {8: LOOKUP_SECONDS[6] + 2 * LOOKUP_SECONDS[4], 9: LOOKUP_SECONDS[6] + 3 * LOOKUP_SECONDS[4]}
    # The default 3 s holds neither rounded layer at 1.5x its 32 neurons: the ladder is unchanged.
    assert all("min_hidden_neurons" not in c.module_params for c in _ladder(minimum, 32, may_narrow=True))
    # 6 s holds 73 neurons of 8 bits rounded to 6 and 64 of 9 to 6: each is offered that wide too, last.
    ladder = _ladder(minimum, 32, budget=6.0, may_narrow=True)
    widened = {c.module_params["n_accum_bits"]: c for c in ladder if "min_hidden_neurons" in c.module_params}
    assert {bits: c.module_params["min_hidden_neurons"] for bits, c in widened.items()} == {8: 73, 9: 64}
    assert widened[9].estimated_seconds == pytest.approx(64 * per_neuron[9])
    assert widened[9].rounding_threshold_bits == {"n_bits": 6, "method": "exact"}
    assert ladder[-2:] == sorted(widened.values(), key=lambda c: c.estimated_seconds)
    assert all(c.estimated_seconds <= 6.0 for c in ladder)
    # No budget: four times the default width. A width the user set, or a budget holding under 1.5x: none.
    unlimited = _ladder(minimum, 32, budget=None, may_narrow=True)
    assert sorted(c.module_params.get("min_hidden_neurons", 0) for c in unlimited)[-2:] == [128, 128]
    for ladder in (_ladder(minimum, 32, budget=None), _ladder(minimum, 32, 3.9, may_narrow=True)):
        assert not any("min_hidden_neurons" in c.module_params for c in ladder)


def test_a_widened_candidate_reaches_the_network_unless_the_user_set_the_width():
    minimum = {3: 4, 4: 5}.get
    widened = _ladder(minimum, 32, budget=None, may_narrow=True)[-1]
    params = NeuralNetClassifier()._module_params(widened.module_params)
    assert params["min_hidden_neurons"] == 128
    assert SparseQuantNeuralNetwork(input_dim=8, n_outputs=3, **params).n_hidden_neurons == 128
    assert SparseQuantNeuralNetwork(8, 2, 3, min_hidden_neurons=None).n_hidden_neurons == 32
    user = NeuralNetClassifier(module__min_hidden_neurons=40)._module_params(widened.module_params)
    assert user["min_hidden_neurons"] == 40
