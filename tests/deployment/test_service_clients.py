"""Client identity, quotas and bounded memory of `veil serve`, over HTTP on loopback."""

import threading
import time
import urllib.request

import numpy as np
import pytest

from veil.deployment import ServiceError

ALICE, BOB = "alice-token-0123456789abcdef", "bob-token-0123456789abcdef"
MB = 1024**2


@pytest.fixture(scope="module")
def service(server_only_dir, service_class, tmp_path_factory):
    token_file = tmp_path_factory.mktemp("tokens") / "tokens"
    token_file.write_text(f"# client-name:token\nbob:{BOB}\n")
    running = service_class(
        server_only_dir,
        tmp_path_factory.mktemp("keys"),
        *("--token-file", str(token_file), "--max-keys-per-client", "1"),
        env={"VEIL_API_TOKENS": f"alice:{ALICE}"},
    )
    running.start()
    yield running
    running.stop()


def _status(call) -> tuple[int, str]:
    with pytest.raises(ServiceError) as error:
        call()
    return error.value.status, error.value.detail


def test_a_client_sees_uses_and_deletes_only_its_own_keys(
    service, key_owners, iris_rows, compiled_classifier
):
    alice, bob, nobody = service.client(ALICE), service.client(BOB), service.client()
    owner, other = key_owners[:2]
    message = owner.quantize_encrypt_serialize(iris_rows[0][:1])

    # Open to everyone: /info and /health. Everything else needs a known token.
    assert nobody.info()["authentication"] == "bearer-token"
    assert nobody.health()["status"] == "ok"
    for call in (
        nobody.list_keys,
        lambda: nobody.upload_evaluation_keys(b"keys"),
        lambda: nobody.run(owner.key_id, message),
    ):
        status, detail = _status(call)
        assert status == 401 and "API token" in detail
    status, detail = _status(service.client("not-a-token-of-this-service").list_keys)
    assert status == 401 and "unknown API token" in detail

    key_id = alice.upload_evaluation_keys(owner.get_serialized_evaluation_keys())
    assert [key["key_id"] for key in alice.list_keys()["keys"]] == [key_id]
    assert bob.list_keys() == {"client": "bob", "keys": [], "stored_bytes": 0}
    status, detail = _status(lambda: bob.run(key_id, message))
    assert status == 404 and "unknown key id" in detail
    status, _ = _status(lambda: bob.delete_evaluation_keys(key_id))
    assert status == 404
    np.testing.assert_array_equal(
        owner.deserialize_decrypt_dequantize(alice.run(key_id, message)),
        compiled_classifier.predict_proba(iris_rows[0][:1], fhe="simulate"),
    )

    # Bob's own keys are his; the same limit of one key per client holds for both.
    bob_key = bob.upload_evaluation_keys(other.get_serialized_evaluation_keys())
    status, _ = _status(lambda: alice.run(bob_key, other.quantize_encrypt_serialize(iris_rows[0][:1])))
    assert status == 404
    status, detail = _status(lambda: alice.upload_evaluation_keys(other.get_serialized_evaluation_keys()))
    assert status == 403 and "the limit is 1" in detail
    alice.delete_evaluation_keys(key_id)
    assert alice.list_keys()["keys"] == []
    assert [key["key_id"] for key in bob.list_keys()["keys"]] == [bob_key]
    bob.delete_evaluation_keys(bob_key)


def test_a_300_mb_streamed_upload_keeps_the_server_memory_flat(service):
    """The upload is cut off once past the model's key size (the server reads ~40 MB of it): whatever
    it reads goes to disk, so resident memory stays where it was."""
    bob = service.client(BOB)
    idle = service.resident_bytes()
    peak = [idle]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], service.resident_bytes())
            time.sleep(0.02)

    def chunks(total=300 * MB, size=MB):
        chunk = b"\x5a" * size
        for _ in range(total // size):
            yield chunk

    watcher = threading.Thread(target=watch)
    watcher.start()
    request = urllib.request.Request(service.url + "/keys", data=chunks(), method="POST")
    request.add_header("Authorization", f"Bearer {BOB}")
    try:
        with urllib.request.urlopen(request, timeout=120):
            pytest.fail("300 MB of garbage were accepted as keys")
    except urllib.error.HTTPError as error:
        assert error.code == 413
    except (ConnectionError, urllib.error.URLError):
        pass  # the server closed the connection while the client was still sending: also a refusal
    finally:
        done.set()
        watcher.join()
    assert peak[0] - idle < 100 * MB, f"resident memory grew by {(peak[0] - idle) / MB:.0f} MB"
    assert service.process.poll() is None
    assert bob.list_keys()["keys"] == []
    assert list((service.key_dir / ".staging").rglob("*.partial")) == []
