"""veil.fhe: compile one integer function, run it, and report what it costs."""

import dataclasses
import warnings

import numpy as np
import pytest

from veil import fhe

WEIGHT = np.array([[1, -2, 3], [2, 1, -1]])


def _relu_lookup(stored):
    return np.clip(stored - 8, 0, 7)


def _function(q_x):
    accumulator = fhe.hint_bit_width(q_x @ WEIGHT + 8, 5)
    return fhe.hint_bit_width(fhe.table_lookup(accumulator, _relu_lookup, bit_width=5), 3)


@pytest.fixture(scope="module")
def circuit():
    inputset = [np.array([[a, b]]) for a in range(4) for b in range(4)]
    return fhe.compile_integer_function(_function, inputset)


def test_statistics_describe_the_circuit(circuit):
    statistics = circuit.statistics
    assert statistics.max_bit_width == 5
    assert statistics.table_lookups_by_bit_width == {5: 3}
    assert statistics.programmable_bootstrap_count == 3
    assert statistics.evaluation_key_bytes > 1_000_000
    # Seeded compression: the keys sent to a server are a quarter of what it holds once expanded.
    assert statistics.evaluation_key_bytes * 3 < statistics.server_key_bytes
    assert statistics.p_error <= fhe.DEFAULT_P_ERROR * 1.01
    assert set(statistics.to_dict()) >= {
        "max_bit_width",
        "table_lookups_by_bit_width",
        "evaluation_key_bytes",
    }


def test_clear_simulate_execute_agree(circuit):
    q_x = np.array([[3, 0], [1, 3], [2, 2]])
    clear = _function(q_x)
    np.testing.assert_array_equal(circuit.simulate(q_x), clear)
    np.testing.assert_array_equal(circuit.encrypt_run_decrypt(q_x[:1]), clear[:1])


def test_evaluation_key_bytes_are_the_serialized_size(circuit):
    sent = len(circuit.serialized_evaluation_keys())
    assert circuit.statistics.evaluation_key_bytes <= sent <= circuit.statistics.evaluation_key_bytes + 1024


def test_wrong_input_shape_is_refused(circuit):
    with pytest.raises(ValueError, match=r"integer inputs of shape \(n_rows, 2\), got \(2, 3\)"):
        circuit.simulate(np.zeros((2, 3), dtype=np.int64))


def test_inputset_errors():
    with pytest.raises(ValueError, match="at least one sample"):
        fhe.compile_integer_function(_function, [])
    with pytest.raises(ValueError, match="same shape"):
        fhe.compile_integer_function(_function, [np.zeros((1, 2)), np.zeros((2, 2))])


def test_round_bit_pattern_rounds_to_multiples_in_clear():
    np.testing.assert_array_equal(fhe.round_bit_pattern(np.array([5, 6, 12, 13]), 2), [4, 8, 12, 12])
    np.testing.assert_array_equal(fhe.round_bit_pattern(np.array([5]), 0), [5])


def test_statistics_price_rounded_lookups_at_their_kept_precision():
    def rounded(q_x):
        accumulator = fhe.hint_bit_width(q_x * 8, 7)
        kept = fhe.round_bit_pattern(accumulator, 3)
        return fhe.table_lookup(kept, lambda stored: stored >> 4, bit_width=7, lsbs_to_remove=3)

    inputset = [np.array([[value, 14 - value]]) for value in range(15)]
    statistics = fhe.compile_integer_function(rounded, inputset, execution=False).statistics
    # 2 lookups reading 4 bits; exact rounding of 3 bits costs 3 more bootstraps per element.
    assert statistics.table_lookups_by_bit_width == {4: 2}
    assert statistics.rounding_bootstrap_count == 6
    assert statistics.programmable_bootstrap_count == 8


def test_rounded_lookups_are_counted_at_the_bits_concrete_keeps_when_their_chain_is_wider():
    def widened(q_x):
        # As an integer linear layer: an 8-bit product, shifted down to a 7-bit accumulator, rounded by 1.
        product = fhe.hint_bit_width(q_x * 9 + 10, 8)
        accumulator = fhe.hint_bit_width(product - 10, 7)
        kept = fhe.round_bit_pattern(accumulator, 1)
        return fhe.table_lookup(kept, lambda stored: stored >> 4, bit_width=7, lsbs_to_remove=1)

    inputset = [np.array([[value, 14 - value]]) for value in range(15)]
    statistics = fhe.compile_integer_function(widened, inputset, execution=False).statistics
    # The chain is 8 bits wide: concrete removes 2 bits to keep the 6 asked for, and the lookup reads 6.
    assert statistics.table_lookups_by_bit_width == {6: 2}


def _wide_function(q_x):
    accumulator = fhe.hint_bit_width(q_x @ np.array([[100], [7]]), 11)
    return fhe.table_lookup(accumulator, lambda stored: stored >> 8, bit_width=11)


@pytest.fixture(scope="module")
def wide_circuit():
    inputset = [np.array([[a, b]]) for a in range(16) for b in range(16)]
    return fhe.compile_integer_function(_wide_function, inputset)


def test_statistics_of_a_wide_lookup_circuit_report_what_is_known(wide_circuit):
    statistics = wide_circuit.statistics
    assert statistics.table_lookups_by_bit_width == {11: 1}
    assert statistics.max_bit_width == 11
    assert statistics.programmable_bootstrap_count >= 1
    # Packing key-switching keys: Veil does not size them, so the key sizes are unknown, not wrong.
    assert statistics.evaluation_key_bytes is None and statistics.server_key_bytes is None
    assert statistics.unknown == ["evaluation_key_bytes", "server_key_bytes"]
    assert statistics.to_dict()["evaluation_key_bytes"] is None


def test_a_circuit_a_server_could_not_load_is_refused_with_the_reason(wide_circuit, circuit):
    assert circuit.deployment_refusal is None
    with pytest.raises(ValueError, match="cannot be deployed: .*reads 11 bits.*rounding_threshold_bits"):
        wide_circuit.server_description()


@pytest.mark.parametrize("name", ["p_error", "global_p_error"])
@pytest.mark.parametrize("value", [float("nan"), 0.0, -1, 1.0, 2.0, "0.1", True])
def test_error_probabilities_must_be_in_the_open_unit_interval(name, value):
    inputset = [np.array([[1, 2]])]
    arguments = {"p_error": None, "global_p_error": None, name: value}
    with pytest.raises(
        ValueError, match=rf"^{name} must be None or a probability in the open interval \(0, 1\)"
    ):
        fhe.compile_integer_function(_function, inputset, **arguments)


def test_huge_keys_are_announced_with_their_size(circuit):
    from veil.fhe._circuit import _warn_if_keys_are_large

    statistics = dataclasses.replace(circuit.statistics, server_key_bytes=2_100_000_000)
    with pytest.warns(UserWarning, match=r"evaluation keys take 2\.10 GB"):
        _warn_if_keys_are_large(statistics)
    with warnings.catch_warnings():  # the rounded candidate's 1.2 GB generate in seconds: no warning
        warnings.simplefilter("error")
        _warn_if_keys_are_large(dataclasses.replace(circuit.statistics, server_key_bytes=1_300_000_000))
