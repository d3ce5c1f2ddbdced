"""The service on a local Ray cluster (2 Ray Serve replicas) and batch scoring with Ray actors.

Needs the optional extra ``veil[ray]`` (``ray[serve]`` with ``numpy<2``); skipped without it. Slow (a
Ray cluster starts, every replica compiles the circuit), hence ``heavy``.
"""

import socket
import urllib.request

import numpy as np
import pytest

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

pytestmark = pytest.mark.heavy
REPLICAS = 2


@pytest.fixture(scope="module")
def ray_service(server_only_dir, tmp_path_factory):
    from veil.deployment import ServiceClient, deploy_on_ray
    from veil.deployment._service import ServiceLimits

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray.init(num_cpus=REPLICAS + 1, include_dashboard=False)
    deploy_on_ray(
        server_only_dir, tmp_path_factory.mktemp("keys"), REPLICAS, ServiceLimits(cached_keys=2), port=port
    )
    yield ServiceClient(f"http://127.0.0.1:{port}", timeout=300)
    serve.shutdown()
    ray.shutdown()


def _predict(http, key_id: str, message: bytes, route_by_key: bool) -> tuple[bytes, str]:
    """Encrypted result and the replica that computed it."""
    headers = {"serve_multiplexed_model_id": key_id} if route_by_key else {}
    request = urllib.request.Request(
        f"{http.url}/predict/{key_id}", data=message, method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return response.read(), response.headers["x-veil-replica"]


def test_keys_uploaded_through_one_replica_serve_predictions_on_the_other(
    ray_service, key_owners, compiled_classifier, iris_rows
):
    http, owner = ray_service, key_owners[0]
    assert http.health()["status"] == "ok"
    key_id = http.upload_evaluation_keys(owner.get_serialized_evaluation_keys())
    rows = iris_rows[0][::50]
    message, expected = (
        owner.quantize_encrypt_serialize(rows),
        compiled_classifier.predict_proba(rows, fhe="simulate"),
    )

    # Routed by key id (Serve's model multiplexing): every request lands on the replica holding the keys.
    replicas = set()
    for _ in range(3):
        result, replica = _predict(http, key_id, message, route_by_key=True)
        np.testing.assert_array_equal(owner.deserialize_decrypt_dequantize(result), expected)
        replicas.add(replica)
    assert len(replicas) == 1

    # Without the header requests are spread: the keys (in the shared key directory) work on both replicas.
    for _ in range(20):  # bounded: the chance that 20 requests all pick one replica is 2**-19
        result, replica = _predict(http, key_id, message, route_by_key=False)
        np.testing.assert_array_equal(owner.deserialize_decrypt_dequantize(result), expected)
        replicas.add(replica)
        if len(replicas) == REPLICAS:
            break
    assert len(replicas) == REPLICAS


def test_batch_scoring_of_32_rows_on_ray_equals_simulation(
    ray_service, server_only_dir, key_owners, compiled_classifier, iris_rows
):
    from veil.deployment import run_many

    owner = key_owners[1]
    X = iris_rows[0][::4][:32]
    messages = [owner.quantize_encrypt_serialize(X[i : i + 4]) for i in range(0, 32, 4)]
    results = run_many(server_only_dir, owner.get_serialized_evaluation_keys(), messages, actors=2)
    probabilities = np.concatenate([owner.deserialize_decrypt_dequantize(result) for result in results])
    np.testing.assert_array_equal(probabilities, compiled_classifier.predict_proba(X, fhe="simulate"))
