"""`veil serve` as a real process on a loopback port, driven over HTTP by ServiceClient."""

import logging
import re
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from veil.deployment import ServiceError
from veil.deployment._messages import ENCRYPTED_INPUT_KIND, pack_rows, unpack_rows

MAX_REQUEST_MB = 1


@pytest.fixture(scope="module")
def service_dirs(server_only_dir, tmp_path_factory):
    return server_only_dir, tmp_path_factory.mktemp("keys")


def _options():
    return ["--max-request-mb", str(MAX_REQUEST_MB), "--max-rows", "8", "--max-concurrent-runs", "2"]


@pytest.fixture(scope="module")
def service(service_dirs, service_class):
    running = service_class(*service_dirs, *_options())
    yield running, running.start()
    running.stop()


@pytest.fixture(scope="module")
def clients(key_owners):
    return key_owners[:2]


def test_encrypted_inference_over_http_equals_simulation(service, clients, compiled_classifier, iris_rows):
    running, http = service
    client = clients[0]
    assert http.info()["model_id"] == client.model_id
    key_id = http.upload_evaluation_keys(client.get_serialized_evaluation_keys())
    assert key_id == client.key_id
    rows = iris_rows[0][::30]
    result = http.run(key_id, client.quantize_encrypt_serialize(rows))
    np.testing.assert_array_equal(
        client.deserialize_decrypt_dequantize(result), compiled_classifier.predict_proba(rows, fhe="simulate")
    )
    # What the server stores: its model file, and evaluation keys byte for byte what the client sent,
    # under the (here anonymous) client's directory.
    assert sorted(p.name for p in running.server_dir.iterdir()) == ["server.veil"]
    stored = list((running.key_dir / "anonymous").iterdir())
    assert [p.name for p in stored] == [f"{key_id}.evalkeys"]
    assert stored[0].read_bytes() == client.get_serialized_evaluation_keys()
    assert http.list_keys()["keys"] == [{"key_id": key_id, "bytes": stored[0].stat().st_size}]
    log = running.output()
    assert f"keys_uploaded client=anonymous key_id={key_id} bytes={stored[0].stat().st_size} new=True" in log
    assert re.search(rf"predicted client=anonymous key_id={key_id} request_bytes=\d+ seconds=\d+\.\d+", log)


def _status(call) -> tuple[int, str]:
    with pytest.raises(ServiceError) as error:
        call()
    return error.value.status, error.value.detail


def test_bad_requests_get_clear_4xx_and_the_service_stays_up(
    service, clients, iris_rows, compiled_regressor, regressor_client
):
    _, http = service
    client, stranger = clients
    key_id = http.upload_evaluation_keys(client.get_serialized_evaluation_keys())
    good = client.quantize_encrypt_serialize(iris_rows[0][:2])

    status, detail = _status(lambda: http.upload_evaluation_keys(b"not keys at all"))
    assert status == 400 and "do not fit this model" in detail
    status, detail = _status(lambda: http.upload_evaluation_keys(b""))
    assert status == 400 and "empty" in detail
    status, detail = _status(lambda: http.run("0" * 64, good))
    assert status == 404 and "unknown key id" in detail
    status, detail = _status(lambda: http.run("../../etc/passwd", good))
    assert status == 404
    status, detail = _status(lambda: http.run(key_id, b"garbage"))
    assert status == 422 and "not a Veil file" in detail
    status, detail = _status(lambda: http.run(key_id, b"x" * (MAX_REQUEST_MB * 1024**2 + 1)))
    assert status == 413 and "limit" in detail
    status, detail = _status(lambda: http.run(key_id, client.quantize_encrypt_serialize(iris_rows[0][:9])))
    assert status == 422 and "at most 8 rows" in detail
    # Rows from another client of the same model, sent under the first client's key id.
    status, detail = _status(lambda: http.run(key_id, stranger.quantize_encrypt_serialize(iris_rows[0][:1])))
    assert status == 422 and "encrypted under evaluation keys" in detail
    # A ciphertext of another model (6 features), labelled as this model's: wrong size.
    other = regressor_client
    _, (foreign,) = unpack_rows(
        other.quantize_encrypt_serialize(compiled_regressor[1][:1]), ENCRYPTED_INPUT_KIND, other.model_id
    )
    forged = pack_rows(ENCRYPTED_INPUT_KIND, client.model_id, key_id, [foreign])
    status, detail = _status(lambda: http.run(key_id, forged))
    assert status == 422 and "does not fit this model's circuit" in detail
    # Keys for other cryptographic parameters (they would crash the native runtime) are refused at upload.
    status, detail = _status(lambda: http.upload_evaluation_keys(_keys_of_a_two_bit_circuit()))
    assert status == 400 and "made for another model" in detail

    result = http.run(key_id, good)
    assert client.deserialize_decrypt(result).shape[0] == 2
    assert "refused method=POST path=/keys status=400 reason='evaluation keys of 15 bytes do not fit" in (
        service[0].output()
    )
    assert http.health() == {"status": "ok", "workers": 2, "restarts": 0}


def _keys_of_a_two_bit_circuit() -> bytes:
    from veil import fhe

    circuit = fhe.compile_integer_function(lambda q: q // 2, [np.array([[value, 3]]) for value in range(4)])
    client = fhe.FheClient(circuit.server_description()["client_specs"])
    client.keygen()
    return client.evaluation_keys()


def _concurrent_clients_are_exact(http, owners, model, X, requests_per_client):
    key_ids = [http.upload_evaluation_keys(owner.get_serialized_evaluation_keys()) for owner in owners]
    jobs = [
        (who, X[(who * 37 + i * 5) % 145 :][:1])
        for i in range(requests_per_client)
        for who in range(len(owners))
    ]

    def infer(job):
        who, rows = job
        owner = owners[who]
        return owner.deserialize_decrypt_dequantize(
            http.run(key_ids[who], owner.quantize_encrypt_serialize(rows))
        )

    with ThreadPoolExecutor(max_workers=len(owners)) as pool:
        results = list(pool.map(infer, jobs))
    for (_, rows), probabilities in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(probabilities, model.predict_proba(rows, fhe="simulate"))
    assert len(results) == len(owners) * requests_per_client


def test_four_clients_at_once_get_their_own_exact_results(
    service, key_owners, compiled_classifier, iris_rows
):
    _concurrent_clients_are_exact(
        service[1], key_owners, compiled_classifier, iris_rows[0], requests_per_client=2
    )


@pytest.mark.heavy
def test_four_clients_times_ten_requests_all_exact(service, key_owners, compiled_classifier, iris_rows):
    _concurrent_clients_are_exact(
        service[1], key_owners, compiled_classifier, iris_rows[0], requests_per_client=10
    )


def test_keys_survive_a_restart(
    service_dirs, service_class, clients, compiled_classifier, iris_rows, tmp_path
):
    client = clients[0]
    running = service_class(service_dirs[0], tmp_path)
    http = running.start()
    try:
        http.upload_evaluation_keys(client.get_serialized_evaluation_keys())
    finally:
        running.stop()
    restarted = service_class(service_dirs[0], tmp_path)
    http = restarted.start()
    try:
        rows = iris_rows[0][:1]
        result = http.run(client.key_id, client.quantize_encrypt_serialize(rows))
        np.testing.assert_array_equal(
            client.deserialize_decrypt_dequantize(result),
            compiled_classifier.predict_proba(rows, fhe="simulate"),
        )
        http.delete_evaluation_keys(client.key_id)
        assert _status(lambda: http.run(client.key_id, client.quantize_encrypt_serialize(rows)))[0] == 404
        assert http.list_keys()["keys"] == []
    finally:
        restarted.stop()


def test_the_cli_exits_non_zero_when_it_cannot_serve(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "veil.cli", "serve", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2  # a failure the user can fix: one line, like a bad argument
    assert "server.veil" in done.stderr


def test_info_is_plain_json(service):
    _, http = service
    with urllib.request.urlopen(http.url + "/info") as response:
        assert response.headers["content-type"] == "application/json"


def test_log_records_carry_their_fields(caplog):
    from veil.deployment._pool import log_event

    with caplog.at_level(logging.INFO, logger="veil.deployment"):
        log_event(logging.INFO, "keys_uploaded", client="alice", key_id="ab" * 32, bytes=10)
    (record,) = caplog.records
    assert record.name == "veil.deployment"
    assert record.getMessage() == f"keys_uploaded client=alice key_id={'ab' * 32} bytes=10"
    assert (record.event, record.client, record.bytes) == ("keys_uploaded", "alice", 10)
