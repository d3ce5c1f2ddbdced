"""veil.fhe: compile one integer function, run it, and report what it costs."""

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
