"""A network of two graph inputs, saved with FHEModelDev and served: the client encodes both arrays."""

import numpy as np
import pytest
import torch

from veil.deployment import FHEModelClient, FHEModelDev, FHEModelServer
from veil.errors import InputValidationError
from veil.torch import compile_torch_model


class TwoInputs(torch.nn.Module):
    """``head(relu(left(a) + right(b)))``: each input has its own quantizer, the circuit one joined row."""

    def __init__(self):
        super().__init__()
        self.left, self.right = torch.nn.Linear(3, 2), torch.nn.Linear(2, 2)
        self.head = torch.nn.Linear(2, 2)

    def forward(self, a, b):
        return self.head(torch.relu(self.left(a) + self.right(b)))


@pytest.fixture(scope="module")
def two_input_model():
    rng = np.random.default_rng(0)
    # Different ranges per input: a client that encoded both with one quantizer would decode wrongly.
    a = rng.uniform(-1, 1, (40, 3)).astype(np.float32)
    b = rng.uniform(-4, 4, (40, 2)).astype(np.float32)
    torch.manual_seed(1)
    # 3 bits and 3-bit rounding keep the circuit small: 3- and 4-bit lookups, keygen in a few seconds.
    module = compile_torch_model(TwoInputs().eval(), (a, b), n_bits=3, rounding_threshold_bits=3)
    return module, a, b


@pytest.fixture(scope="module")
def client_and_server(two_input_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("two-inputs")
    FHEModelDev(path, two_input_model[0]).save()
    client = FHEModelClient(path)
    client.generate_private_and_evaluation_keys()
    return client, FHEModelServer(path).load()


def test_two_input_round_trip_equals_simulation(two_input_model, client_and_server):
    module, a, b = two_input_model
    client, server = client_and_server
    message = client.quantize_encrypt_serialize(a[:3], b[:3])
    result = server.run(message, client.get_serialized_evaluation_keys())
    simulated = module.forward(a[:3], b[:3], fhe="simulate")
    np.testing.assert_array_equal(client.deserialize_decrypt_dequantize(result), simulated)
    np.testing.assert_array_equal(
        client.deserialize_decrypt(result), module.quantized_forward(module.quantize_input(a[:3], b[:3]))
    )
    # The inputs are not interchangeable: swapping the rows of one input changes the result.
    assert not np.array_equal(simulated, module.forward(a[:3], b[[1, 2, 0]], fhe="simulate"))


def test_two_input_client_names_the_input_it_refuses(client_and_server, two_input_model):
    client, _ = client_and_server
    _, a, b = two_input_model
    with pytest.raises(InputValidationError, match=r"the model takes 2 input array\(s\), got 1"):
        client.quantize_encrypt_serialize(a[:2])
    wrong_shape = r"X\[1\] must have shape \(n_rows >= 1, 2\), got \(2, 3\)"
    with pytest.raises(InputValidationError, match=wrong_shape):
        client.quantize_encrypt_serialize(a[:2], a[:2])
    with pytest.raises(InputValidationError, match=r"the same number of rows, got \[2, 1\]"):
        client.quantize_encrypt_serialize(a[:2], b[:1])
