"""Hostile bytes against `veil serve`: edited evaluation keys and ciphertexts, and a killed worker.

The service must survive all of it: no crashed HTTP process, no 5xx for client input, keys that crash a
worker quarantined for good, and a good request served afterwards. The full sweeps (168 key edits, 500
ciphertext edits) are `heavy`; every twelfth key edit and every tenth ciphertext edit run in the default
suite. After each edit the HTTP process must be alive with its worker up; a full good request (decrypted
and compared with simulation) runs after every crash, every few edits and at the end.
"""

import json
import os
import signal
import threading
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from veil.deployment import ServiceError, key_id_of
from veil.deployment._messages import ENCRYPTED_INPUT_KIND, pack_rows, unpack_rows

RUN_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def owner(key_owners):
    return key_owners[0]


@pytest.fixture(scope="module")
def service(server_only_dir, service_class, tmp_path_factory, owner):
    running = service_class(
        server_only_dir,
        tmp_path_factory.mktemp("keys"),
        *("--max-concurrent-runs", "1", "--max-keys-per-client", "1000", "--run-timeout", str(RUN_TIMEOUT_S)),
    )
    http = running.start()
    http.upload_evaluation_keys(owner.get_serialized_evaluation_keys())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def good_request(owner, iris_rows, compiled_classifier):
    """One encrypted row and the probabilities it must decrypt to."""
    rows = iris_rows[0][60:61]
    return owner.quantize_encrypt_serialize(rows), compiled_classifier.predict_proba(rows, fhe="simulate")


def _served_well(running, owner, good_request) -> None:
    """The HTTP process is alive, its worker is up, and a good request gets its exact answer."""
    assert running.process.poll() is None, running.output()
    message, expected = good_request
    result = running.client().run(owner.key_id, message)
    np.testing.assert_array_equal(owner.deserialize_decrypt_dequantize(result), expected)
    assert running.client().health()["workers"] == 1


def _status_of(call) -> tuple[int, str]:
    """HTTP status and detail of a call; fails on a dropped connection (a crashed service)."""
    try:
        call()
    except ServiceError as error:
        return error.status, error.detail
    except (urllib.error.URLError, ConnectionError) as error:
        pytest.fail(f"the service dropped the connection: {error}")
    return 200, ""


def _edited(data: bytes, position: int, mask: int = 0xFF) -> bytes:
    edited = bytearray(data)
    edited[position] ^= mask
    return bytes(edited)


def _key_edit_positions(size: int) -> list[int]:
    """168 single-byte edits: every byte of the first 128 (the keyset's structure and parameters) and
    40 spread over the key material."""
    return list(range(128)) + [int(p) for p in np.linspace(128, size - 1, 40)]


def _relabelled(message: bytes, owner, key_id: str, ciphertext: bytes | None = None) -> bytes:
    _, (original,) = unpack_rows(message, ENCRYPTED_INPUT_KIND, owner.model_id)
    return pack_rows(ENCRYPTED_INPUT_KIND, owner.model_id, key_id, [ciphertext or original])


def _replay_key_edits(running, owner, good_request, positions) -> dict:
    http = running.client()
    keys = owner.get_serialized_evaluation_keys()
    outcomes = {"stored": 0, "refused": 0, "crashed": 0}
    for position in positions:
        edited = _edited(keys, position)
        status, detail = _status_of(lambda edited=edited: http.upload_evaluation_keys(edited))
        assert status in (200, 400), (position, status, detail)
        if status == 200:
            # Accepted keys (an edit inside the key material) are used once: noise comes back, or a clear
            # refusal if they crash the worker now.
            edited_id = key_id_of(edited)
            message = _relabelled(good_request[0], owner, edited_id)
            status, detail = _status_of(lambda message=message, i=edited_id: http.run(i, message))
            assert status in (200, 422), (position, status, detail)
            if status == 200:
                http.delete_evaluation_keys(edited_id)
        outcome = "stored" if status == 200 else "crashed" if "crashed" in detail else "refused"
        outcomes[outcome] += 1
        if outcome == "crashed" or sum(outcomes.values()) % 5 == 0:
            _served_well(running, owner, good_request)
        else:  # cheaper than a full request; the good request runs every five edits and after each crash
            assert running.process.poll() is None and http.health()["workers"] == 1
    _served_well(running, owner, good_request)
    return outcomes


def test_edited_keys_never_crash_the_service(service, owner, good_request):
    positions = _key_edit_positions(len(owner.get_serialized_evaluation_keys()))[::12]
    outcomes = _replay_key_edits(service, owner, good_request, positions)
    assert sum(outcomes.values()) == len(positions) == 14
    assert outcomes["refused"] > 0


@pytest.mark.heavy
def test_all_168_key_edits_never_crash_the_service(service, owner, good_request):
    positions = _key_edit_positions(len(owner.get_serialized_evaluation_keys()))
    outcomes = _replay_key_edits(service, owner, good_request, positions)
    assert sum(outcomes.values()) == len(positions) == 168
    print(f"168 key edits: {outcomes}")  # the record (pytest -s), e.g. for the report of a run


def _ciphertext_edits(message: bytes, owner, count: int) -> list[bytes]:
    """``count`` edited messages: four in five edit the ciphertext inside a well-formed message (they reach
    the native runtime), one in five edits the message's own bytes (its checksum catches them)."""
    _, (ciphertext,) = unpack_rows(message, ENCRYPTED_INPUT_KIND, owner.model_id)
    rng = np.random.default_rng(0)
    edits = []
    for i in range(count):
        if i % 5 == 4:
            edits.append(_edited(message, int(rng.integers(len(message)))))
        else:
            position, mask = int(rng.integers(len(ciphertext))), int(rng.integers(1, 256))
            edits.append(_relabelled(message, owner, owner.key_id, _edited(ciphertext, position, mask)))
    return edits


def _replay_ciphertext_edits(running, owner, good_request, edits) -> dict[int, int]:
    http = running.client()
    statuses: dict[int, int] = {}
    for i, edited in enumerate(edits):
        status, detail = _status_of(lambda edited=edited: http.run(owner.key_id, edited))
        assert status == 200 or 400 <= status < 500, (i, status, detail)
        statuses[status] = statuses.get(status, 0) + 1
        if status != 200 and status != 422 or "crashed" in detail or i % 10 == 9:
            _served_well(running, owner, good_request)
        else:  # cheaper than a full request, and the good request runs every ten edits anyway
            assert running.process.poll() is None and http.health()["workers"] == 1
    _served_well(running, owner, good_request)
    return statuses


def test_edited_ciphertexts_get_answers_or_4xx(service, owner, good_request):
    statuses = _replay_ciphertext_edits(
        service, owner, good_request, _ciphertext_edits(good_request[0], owner, 500)[::10]
    )
    assert sum(statuses.values()) == 50 and statuses.get(422, 0) >= 10


@pytest.mark.heavy
def test_all_500_ciphertext_edits_get_answers_or_4xx(service, owner, good_request):
    statuses = _replay_ciphertext_edits(
        service, owner, good_request, _ciphertext_edits(good_request[0], owner, 500)
    )
    assert sum(statuses.values()) == 500
    print(f"500 ciphertext edits, answers by HTTP status: {statuses}")


def _first_crashing_key_edit(http, keys: bytes) -> bytes:
    """Keys with one structure byte edited such that loading them kills the worker (searched, bounded)."""
    for position in range(16, 64):
        edited = _edited(keys, position)
        status, detail = _status_of(lambda edited=edited: http.upload_evaluation_keys(edited))
        if "crashed the evaluation worker" in detail:
            assert status == 400 and "they are quarantined" in detail
            return edited
        assert status in (200, 400), detail
    pytest.fail("no edit of bytes 16-63 of the keys crashes a worker any more: pick other positions")


def test_crashing_keys_are_quarantined_for_good(service, owner, good_request):
    http = service.client()
    crashing = _first_crashing_key_edit(http, owner.get_serialized_evaluation_keys())
    crashing_id = key_id_of(crashing)
    record = json.loads((service.key_dir / ".quarantine" / f"{crashing_id}.json").read_text())
    assert record["client"] == "anonymous" and "killed by SIG" in record["reason"]
    assert crashing_id not in {key["key_id"] for key in http.list_keys()["keys"]}
    status, detail = _status_of(lambda: http.upload_evaluation_keys(crashing))
    assert status == 400 and "quarantined" in detail

    # The same bytes found in the key store (written by an older server, or damaged on disk) crash the
    # worker at evaluation: the request gets a 422, the file leaves the store, the next request works.
    service.stop()
    crashing_id = key_id_of(crashing + b"\0")  # another id: as if never seen
    stored = service.key_dir / "anonymous" / f"{crashing_id}.evalkeys"
    stored.write_bytes(crashing)
    http = service.start()
    status, detail = _status_of(
        lambda: http.run(crashing_id, _relabelled(good_request[0], owner, crashing_id))
    )
    assert status == 422 and "crashed the evaluation worker" in detail and "quarantined" in detail
    assert not stored.exists() and (service.key_dir / ".quarantine" / f"{crashing_id}.evalkeys").exists()
    _served_well(service, owner, good_request)
    log = service.output()
    for event in (
        "worker_died",
        "worker_restarted",
        f"keys_quarantined client=anonymous key_id={crashing_id}",
    ):
        assert event in log

    # Quarantine survives a restart.
    service.stop()
    http = service.start()
    status, detail = _status_of(
        lambda: http.run(crashing_id, _relabelled(good_request[0], owner, crashing_id))
    )
    assert status == 410 and "quarantined" in detail
    status, detail = _status_of(lambda: http.upload_evaluation_keys(crashing))
    assert status == 400 and "quarantined" in detail
    _served_well(service, owner, good_request)


def _worker_pids(running) -> list[int]:
    children = Path(f"/proc/{running.process.pid}/task/{running.process.pid}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_a_worker_killed_mid_request_is_replaced(service, owner, good_request, iris_rows):
    """A worker killed while evaluating (as the out-of-memory killer would) costs that request only."""
    http = service.client()
    restarts = http.health()["restarts"]
    (worker,) = _worker_pids(service)
    answer = {}
    # 64 rows: the evaluation lasts seconds, so the kill half a second in lands mid-request on any machine.
    slow_message = owner.quantize_encrypt_serialize(iris_rows[0][:64])

    def request():
        answer["status"], answer["detail"] = _status_of(lambda: http.run(owner.key_id, slow_message))

    thread = threading.Thread(target=request)
    thread.start()
    time.sleep(0.5)
    os.kill(worker, signal.SIGKILL)
    thread.join(timeout=RUN_TIMEOUT_S * 3)
    assert answer["status"] == 422 and "killed by SIGKILL" in answer["detail"], answer
    assert worker not in _worker_pids(service)
    assert http.health()["restarts"] == restarts + 1
    _served_well(service, owner, good_request)
