"""A circuit that compiles either deploys or is refused when saved, with the reason (issue 15)."""

import numpy as np
import pytest
import torch

from veil.deployment import FHEModelDev
from veil.torch import compile_torch_model


@pytest.fixture(scope="module")
def wide_lookup_module():
    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(100, 10)).astype(np.float32)
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3))
    return compile_torch_model(model, X, n_bits=4, rounding_threshold_bits=None), X


def test_wide_lookups_report_statistics(wide_lookup_module):
    module, _ = wide_lookup_module
    statistics = module.fhe_circuit.statistics
    assert max(statistics.table_lookups_by_bit_width) == module.predicted_max_bit_width == 11
    assert statistics.unknown == ["evaluation_key_bytes", "server_key_bytes"]


def test_saving_what_the_server_could_not_load_is_refused_at_once(wide_lookup_module, tmp_path):
    module, X = wide_lookup_module
    with pytest.raises(
        ValueError, match="cannot be deployed: the circuit's widest table lookup reads 11 bits"
    ):
        FHEModelDev(tmp_path / "model", module).save()
    assert not (tmp_path / "model").exists()
    np.testing.assert_array_equal(module.forward(X[:5], fhe="simulate"), module.forward(X[:5]))
