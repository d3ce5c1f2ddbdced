"""The service's key store and API tokens, in-process (neither touches concrete-python)."""

import asyncio
import hashlib
import tracemalloc

import pytest

from veil.deployment._auth import ANONYMOUS, RequestRefusedError, TokenConfigError, Tokens
from veil.deployment._key_store import KeyStore

MB = 1024**2
TOKEN = "x" * 16


async def _chunks(total: int, size: int = 64 * 1024):
    chunk = b"\x01" * size
    for _ in range(total // size):
        yield chunk


def _store(tmp_path, keys=3, megabytes=10) -> KeyStore:
    return KeyStore(tmp_path, max_keys_per_client=keys, max_bytes_per_client=megabytes * MB)


def _upload(store: KeyStore, client: str, data: bytes) -> str:
    async def body():
        yield data

    staged = asyncio.run(store.receive(client, body(), store.upload_limit(client, 10**12)))
    store.commit(staged)
    return staged.key_id


def test_a_300_mb_upload_is_streamed_to_disk(tmp_path):
    store = _store(tmp_path, megabytes=400)
    tracemalloc.start()
    try:
        staged = asyncio.run(store.receive("alice", _chunks(300 * MB), limit=400 * MB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB, f"{peak / MB:.1f} MB held while receiving"
    assert staged.size == staged.path.stat().st_size == 300 * MB
    assert staged.key_id == hashlib.sha256(b"\x01" * (300 * MB)).hexdigest()
    store.discard(staged)


def test_an_upload_past_its_limit_is_refused_and_leaves_nothing(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(RequestRefusedError, match="exceed the 1048576 bytes") as error:
        asyncio.run(store.receive("alice", _chunks(3 * MB), limit=MB))
    assert error.value.status == 413
    assert list((tmp_path / ".staging").rglob("*.partial")) == []


def test_quotas_count_keys_and_bytes_per_client(tmp_path):
    store = _store(tmp_path, keys=2, megabytes=1)
    _upload(store, "alice", b"a" * 400_000)
    assert store.upload_limit("alice", 10**12) == MB - 400_000
    assert store.upload_limit("alice", 1000) == 1000
    _upload(store, "alice", b"b" * 400_000)
    with pytest.raises(RequestRefusedError, match="stores 2 keys, the limit is 2") as error:
        store.upload_limit("alice", 10**12)
    assert error.value.status == 403
    assert store.upload_limit("bob", 10**12) == MB  # quotas are per client
    # Two uploads racing past the check: the second to commit is refused.
    store = _store(tmp_path / "race", keys=1)
    first, second = (asyncio.run(store.receive("bob", _chunks(64 * 1024 * n), 10 * MB)) for n in (1, 2))
    store.commit(first)
    with pytest.raises(RequestRefusedError, match="would exceed its quota of 1 keys"):
        store.commit(second)
    assert not second.path.exists()


def test_a_client_reaches_only_its_own_keys(tmp_path):
    store = _store(tmp_path)
    key_id = _upload(store, "alice", b"alice's keys")
    assert store.path("alice", key_id).read_bytes() == b"alice's keys"
    for call in (lambda: store.path("bob", key_id), lambda: store.remove("bob", key_id)):
        with pytest.raises(RequestRefusedError, match="unknown key id") as error:
            call()
        assert error.value.status == 404
    with pytest.raises(RequestRefusedError, match="64 hexadecimal"):
        store.path("alice", "../alice/" + key_id)
    assert store.keys_of("bob") == {}
    store.remove("alice", key_id)
    assert store.keys_of("alice") == {}


def test_quarantine_takes_keys_out_for_good(tmp_path):
    store = _store(tmp_path)
    key_id = _upload(store, "alice", b"bad keys")
    store.quarantine(key_id, "alice", "it was killed by SIGSEGV", store.path("alice", key_id))
    assert store.keys_of("alice") == {}
    restarted = _store(tmp_path)  # a restart: a new store over the same directory
    assert restarted.quarantine_reason(key_id) == "it was killed by SIGSEGV"
    with pytest.raises(RequestRefusedError, match="quarantined") as error:
        restarted.path("alice", key_id)
    assert error.value.status == 410
    assert (tmp_path / ".quarantine" / f"{key_id}.evalkeys").read_bytes() == b"bad keys"


def test_tokens_from_a_file_and_the_environment(tmp_path):
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# comment\nalice:{'a' * 20}  # trailing comment\n\nbob: {'b' * 16}\n")
    tokens = Tokens.load(token_file, environ={"VEIL_API_TOKENS": f"carol:{'c' * 16},dave:{'d' * 16}"})
    assert tokens.clients == ["alice", "bob", "carol", "dave"]
    assert tokens.client_of(f"Bearer {'b' * 16}") == "bob"
    assert tokens.client_of(f"bearer {'c' * 16}") == "carol"
    for header, message in [
        (None, "needs an API token"),
        ("", "needs an API token"),
        (f"Basic {'a' * 20}", "must be 'Bearer <token>'"),
        ("Bearer ", "must be 'Bearer <token>'"),
        (f"Bearer {'a' * 19}", "unknown API token"),
    ]:
        with pytest.raises(RequestRefusedError, match=message) as error:
            tokens.client_of(header)
        assert error.value.status == 401


def test_without_tokens_everyone_is_anonymous():
    tokens = Tokens.load(None, environ={})
    assert tokens.open and tokens.client_of(None) == ANONYMOUS and tokens.client_of("Bearer x") == ANONYMOUS


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (f"alice {TOKEN}", "expected entries 'client-name:token'"),
        (f"../etc:{TOKEN}", "expected entries 'client-name:token'"),
        ("alice:short", "has 5 characters, at least 16"),
        (f"alice:{TOKEN},bob:{TOKEN}", "one token is given to 'alice' and 'bob'"),
    ],
)
def test_malformed_token_configuration_is_refused(entries, message):
    with pytest.raises(TokenConfigError, match=message):
        Tokens.load(None, environ={"VEIL_API_TOKENS": entries})
