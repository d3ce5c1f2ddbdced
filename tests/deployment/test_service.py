"""`veil serve` as a real process on a loopback port, driven over HTTP by ServiceClient."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from veil.deployment import FHEModelClient, ServiceClient, ServiceError
from veil.deployment._messages import ENCRYPTED_INPUT_KIND, pack_rows, unpack_rows

MAX_REQUEST_MB = 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """One `veil serve` process; the server directory holds only server.veil (no client file)."""

    def __init__(self, server_dir, key_dir):
        self.server_dir, self.key_dir = server_dir, key_dir
        self.process = None

    def start(self) -> ServiceClient:
        port = _free_port()
        command = [sys.executable, "-m", "veil.cli", "serve", str(self.server_dir), "--port", str(port)]
        command += ["--key-dir", str(self.key_dir), "--max-request-mb", str(MAX_REQUEST_MB)]
        command += ["--max-rows", "8", "--max-concurrent-runs", "2"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        client = ServiceClient(f"http://127.0.0.1:{port}", timeout=300)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"veil serve exited early:\n{self.process.stdout.read().decode()}")
            try:
                client.info()
                return client
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("veil serve did not answer within 120 s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def service_dirs(classifier_dir, tmp_path_factory):
    server_dir = tmp_path_factory.mktemp("server")
    shutil.copy(classifier_dir / "server.veil", server_dir)
    return server_dir, tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def service(service_dirs):
    running = Service(*service_dirs)
    yield running, running.start()
    running.stop()


@pytest.fixture(scope="module")
def clients(classifier_dir):
    pair = [FHEModelClient(classifier_dir), FHEModelClient(classifier_dir)]
    for client in pair:
        client.generate_private_and_evaluation_keys()
    return pair


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
    # What the server stores: its model file, and evaluation keys byte for byte what the client sent.
    assert sorted(p.name for p in running.server_dir.iterdir()) == ["server.veil"]
    stored = list(running.key_dir.iterdir())
    assert [p.name for p in stored] == [f"{key_id}.evalkeys"]
    assert stored[0].read_bytes() == client.get_serialized_evaluation_keys()


def _status(call) -> tuple[int, str]:
    with pytest.raises(ServiceError) as error:
        call()
    return error.value.status, error.value.detail


def test_bad_requests_get_clear_4xx_and_the_service_stays_up(
    service, clients, iris_rows, compiled_regressor, regressor_dir
):
    _, http = service
    client, stranger = clients
    key_id = http.upload_evaluation_keys(client.get_serialized_evaluation_keys())
    good = client.quantize_encrypt_serialize(iris_rows[0][:2])

    status, detail = _status(lambda: http.upload_evaluation_keys(b"not keys at all"))
    assert status == 400 and "do not fit this model" in detail
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
    other = FHEModelClient(regressor_dir)
    other.generate_private_and_evaluation_keys()
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


def _keys_of_a_two_bit_circuit() -> bytes:
    from veil import fhe

    circuit = fhe.compile_integer_function(lambda q: q // 2, [np.array([[value, 3]]) for value in range(4)])
    client = fhe.FheClient(circuit.server_description()["client_specs"])
    client.keygen()
    return client.evaluation_keys()


def test_several_clients_at_once_get_their_own_results(service, clients, compiled_classifier, iris_rows):
    _, http = service
    key_ids = [http.upload_evaluation_keys(client.get_serialized_evaluation_keys()) for client in clients]
    X = iris_rows[0]
    jobs = [(i % 2, X[i * 7 : i * 7 + 2]) for i in range(6)]

    def infer(job):
        who, rows = job
        client = clients[who]
        return client.deserialize_decrypt_dequantize(
            http.run(key_ids[who], client.quantize_encrypt_serialize(rows))
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(infer, jobs))
    for (_, rows), probabilities in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(probabilities, compiled_classifier.predict_proba(rows, fhe="simulate"))


def test_keys_survive_a_restart(service_dirs, clients, compiled_classifier, iris_rows):
    client = clients[0]
    running = Service(*service_dirs)
    http = running.start()
    try:
        http.upload_evaluation_keys(client.get_serialized_evaluation_keys())
    finally:
        running.stop()
    restarted = Service(*service_dirs)
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
