"""The service on a local Ray cluster (2 Ray Serve replicas) and batch scoring with Ray actors.

Needs the optional extra ``veil[ray]`` (``veil[dev]`` brings it); skipped without it. The cluster is small
and bounded: 3 logical CPUs (one per replica, and one free so that ``run_many``'s actors can be placed),
a 400 MB object store, no dashboard, no usage reporting, never someone else's cluster. It is shut down,
with Serve, even when a test or the setup fails, and a watchdog ends the run with a traceback if the module
hangs.
"""

import builtins
import faulthandler
import logging
import re
import socket
import urllib.request

import numpy as np
import pytest

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

REPLICAS = 2
REQUEST_TIMEOUT_S = 120
MODULE_DEADLINE_S = 900  # about 10x the module's time on a loaded 2-core machine


@pytest.fixture(scope="module")
def ray_cluster():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no report sent from a test run
        # Ray swaps builtins.print for its own (for its progress bars) and leaves it swapped after shutdown;
        # skorch then prints its epoch tables whatever `verbose` says, in every later test.
        patch.setenv("RAY_TQDM_PATCH_PRINT", "0")
        patch.setattr(builtins, "print", builtins.print)
        faulthandler.dump_traceback_later(MODULE_DEADLINE_S, exit=True)
        try:
            ray.init(
                address="local",  # a cluster of its own, even where RAY_ADDRESS names another
                num_cpus=REPLICAS + 1,
                object_store_memory=400 * 1024**2,
                include_dashboard=False,
                logging_level=logging.WARNING,
            )
            yield
        finally:
            if ray.is_initialized():  # serve.shutdown would start a cluster to look for Serve in
                serve.shutdown()
            ray.shutdown()
            faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def ray_service(ray_cluster, server_only_dir, tmp_path_factory):
    from veil.deployment import ServiceClient, deploy_on_ray
    from veil.deployment._service import ServiceLimits

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limits = ServiceLimits(cached_keys=2, run_timeout=REQUEST_TIMEOUT_S)
    deploy_on_ray(server_only_dir, tmp_path_factory.mktemp("keys"), REPLICAS, limits, port=port)
    return ServiceClient(f"http://127.0.0.1:{port}", timeout=REQUEST_TIMEOUT_S)


def _predict(http, key_id: str, message: bytes, route_by_key: bool) -> tuple[bytes, str]:
    """Encrypted result and the replica that computed it."""
    headers = {"serve_multiplexed_model_id": key_id} if route_by_key else {}
    request = urllib.request.Request(
        f"{http.url}/predict/{key_id}", data=message, method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
        return response.read(), response.headers["x-veil-replica"]


def test_keys_uploaded_through_one_replica_serve_predictions_on_the_other(
    ray_service, key_owners, compiled_classifier, iris_rows
):
    http, owner = ray_service, key_owners[0]
    assert http.health()["status"] == "ok"
    key_id = http.upload_evaluation_keys(owner.get_serialized_evaluation_keys())
    rows = iris_rows[0][100:101]  # one row per request: routing is the point here, not the row count
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
    ray_cluster, server_only_dir, key_owners, compiled_classifier, iris_rows
):
    from veil.deployment import run_many

    owner = key_owners[1]
    X = iris_rows[0][::4][:32]
    messages = [owner.quantize_encrypt_serialize(X[i : i + 4]) for i in range(0, 32, 4)]
    results = run_many(server_only_dir, owner.get_serialized_evaluation_keys(), messages, actors=2)
    probabilities = np.concatenate([owner.deserialize_decrypt_dequantize(result) for result in results])
    assert probabilities.shape == (32, 3)
    np.testing.assert_array_equal(probabilities, compiled_classifier.predict_proba(X, fhe="simulate"))


def test_scoring_actors_that_cannot_be_placed_stop_with_the_reason(ray_cluster, server_only_dir, key_owners):
    from veil.deployment._ray import _Scorer, _wait_started

    keys = ray.put(key_owners[1].get_serialized_evaluation_keys())
    # Actors asking for a resource no node has stay pending, as run_many's do when no CPU is free. (Holding
    # every CPU with other actors made a flaky test: Ray sometimes placed the scorers all the same.)
    scorers = [_Scorer.options(resources={"absent": 1}).remote(str(server_only_dir), keys) for _ in range(2)]
    try:
        with pytest.raises(TimeoutError) as error:
            _wait_started(scorers, timeout=3)
        assert "2 of 2 scoring actors did not start within start_timeout=3 s" in str(error.value)
        assert re.search(r"needs a free CPU to be placed and the cluster has [\d.]+ free", str(error.value))
    finally:
        for scorer in scorers:
            ray.kill(scorer)
