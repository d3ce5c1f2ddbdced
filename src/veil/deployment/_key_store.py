"""Evaluation keys on disk: one directory per client, quotas, uploads streamed to disk, quarantine.

Layout under the key directory::

    <client>/<key_id>.evalkeys     keys a client uploaded (and that passed validation)
    .staging/<host>-<pid>/         uploads being received or validated, per serving process (several
                                   replicas may share the directory); a dead process's are removed
    .quarantine/<key_id>.json      why keys were quarantined (and .evalkeys: the file, if it had been stored)

Quarantined key ids are refused for good, also after a restart. This module never reads key contents:
it stores bytes and counts them; the workers load them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ._auth import RequestRefusedError
from ._messages import is_key_id

KEY_SUFFIX = ".evalkeys"
_STAGING = ".staging"
_QUARANTINE = ".quarantine"
DRAIN_BYTES = 16 * 1024**2  # read at most this much past a limit, so the client sees the 413 and its reason


@dataclass(frozen=True)
class StagedKeys:
    """An upload received in full, not yet validated nor stored."""

    client: str
    key_id: str
    path: Path
    size: int


class KeyStore:
    """The service's evaluation keys, per client, with limits on how many and how many bytes each stores.

    Parameters
    ----------
    directory : pathlib.Path
    max_keys_per_client : int
    max_bytes_per_client : int
    """

    def __init__(self, directory: Path, max_keys_per_client: int, max_bytes_per_client: int):
        self.directory = Path(directory)
        self.max_keys = max_keys_per_client
        self.max_bytes = max_bytes_per_client
        self._staging = self.directory / _STAGING / f"{socket.gethostname()}-{os.getpid()}"
        self._quarantine = self.directory / _QUARANTINE
        _remove_dead_staging(self.directory / _STAGING)
        self._staging.mkdir(parents=True, exist_ok=True)
        self._quarantine.mkdir(exist_ok=True)
        self._lock = threading.Lock()  # commit and remove run in a thread pool

    # -- what a client holds -------------------------------------------------------------------------
    def keys_of(self, client: str) -> dict[str, int]:
        """Key id → size in bytes of every key a client stores."""
        folder = self.directory / client
        if not folder.is_dir():
            return {}
        return {
            path.name.removesuffix(KEY_SUFFIX): path.stat().st_size for path in folder.glob(f"*{KEY_SUFFIX}")
        }

    def path(self, client: str, key_id: str) -> Path:
        """The file of a client's keys; 404 for ids it does not hold (other clients' keys included)."""
        if not is_key_id(key_id):
            raise RequestRefusedError(
                404, f"unknown key id {key_id!r}: key ids are 64 hexadecimal characters"
            )
        reason = self.quarantine_reason(key_id)
        if reason is not None:
            raise RequestRefusedError(410, f"keys {key_id} are quarantined ({reason}): upload new keys")
        path = self.directory / client / f"{key_id}{KEY_SUFFIX}"
        if not path.is_file():
            raise RequestRefusedError(404, f"unknown key id {key_id!r}: upload keys to /keys first")
        return path

    def upload_limit(self, client: str, max_key_bytes: int) -> int:
        """Bytes the next upload of ``client`` may hold; 403 when its number of keys is at the limit."""
        held = self.keys_of(client)
        if len(held) >= self.max_keys:
            raise RequestRefusedError(
                403,
                f"client {client!r} stores {len(held)} keys, the limit is {self.max_keys}: delete keys first",
            )
        return min(max_key_bytes, self.max_bytes - sum(held.values()))

    # -- receiving, storing, removing --------------------------------------------------------------------
    async def receive(self, client: str, chunks, limit: int) -> StagedKeys:
        """Write an upload to the staging directory as it arrives, hashing it; 413 past ``limit`` bytes."""
        path = self._staging / f"{uuid.uuid4().hex}.partial"
        digest, size = hashlib.sha256(), 0
        try:
            with path.open("wb") as file:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit + DRAIN_BYTES:
                        break
                    if size <= limit:
                        digest.update(chunk)
                        file.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if size > limit or size == 0:
            path.unlink(missing_ok=True)
            if size == 0:
                raise RequestRefusedError(400, "the request body is empty; expected evaluation keys")
            raise RequestRefusedError(
                413,
                f"the evaluation keys exceed the {limit} bytes this upload may hold (size and quota limits)",
            )
        return StagedKeys(client, digest.hexdigest(), path, size)

    def commit(self, staged: StagedKeys) -> bool:
        """Store validated keys under the client's directory; False if it already held them."""
        final = self.directory / staged.client / f"{staged.key_id}{KEY_SUFFIX}"
        with self._lock:
            if final.exists():
                staged.path.unlink(missing_ok=True)
                return False
            held = self.keys_of(staged.client)
            if len(held) >= self.max_keys or sum(held.values()) + staged.size > self.max_bytes:
                staged.path.unlink(missing_ok=True)
                raise RequestRefusedError(
                    403,
                    f"client {staged.client!r} would exceed its quota of {self.max_keys} keys and "
                    f"{self.max_bytes} bytes: delete keys first",
                )
            final.parent.mkdir(exist_ok=True)
            staged.path.replace(final)  # atomic: never half a key file under its final name
        return True

    def discard(self, staged: StagedKeys) -> None:
        staged.path.unlink(missing_ok=True)

    def remove(self, client: str, key_id: str) -> None:
        path = self.path(client, key_id)
        with self._lock:
            path.unlink(missing_ok=True)

    # -- quarantine --------------------------------------------------------------------------------------
    def quarantine_reason(self, key_id: str) -> str | None:
        record = self._quarantine / f"{key_id}.json"
        if not record.exists():
            return None
        return json.loads(record.read_text())["reason"]

    def quarantine(self, key_id: str, client: str, reason: str, path: Path | None = None) -> None:
        """Refuse ``key_id`` for good; ``path`` (a stored or staged file of those keys) leaves the store."""
        record = {"key_id": key_id, "client": client, "reason": reason, "time": time.time()}
        with self._lock:
            if path is not None and path.exists():
                path.replace(self._quarantine / f"{key_id}{KEY_SUFFIX}")
            (self._quarantine / f"{key_id}.json").write_text(json.dumps(record))


def _remove_dead_staging(staging: Path) -> None:
    """Remove the partial uploads of serving processes of this host that no longer run."""
    if not staging.is_dir():
        return
    host = socket.gethostname()
    for folder in staging.iterdir():
        owner_host, _, pid = folder.name.rpartition("-")
        if owner_host == host and pid.isdigit() and not _is_running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _is_running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a leftover of an earlier process that had this pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
