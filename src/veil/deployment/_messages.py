"""What travels between client and server: encrypted rows and encrypted results, in Veil containers.

Each message names the model it was made for and the evaluation keys (by key id) it was encrypted
under. A server cannot tell from a ciphertext alone which secret key encrypted it (that is the point of
encryption), so these labels are what turns an honest mix-up, such as rows encrypted by one client sent
with another client's key id, into a clear error instead of garbage.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from .._serialization import ModelFileError, from_bytes, to_bytes
from ..errors import EncryptedDataError

# The two files of a saved model (FHEModelDev), and their kinds.
CLIENT_FILE = "client.veil"
SERVER_FILE = "server.veil"
CLIENT_KIND = "veil-client"
SERVER_KIND = "veil-server"
ENCRYPTED_INPUT_KIND = "encrypted-input"
ENCRYPTED_OUTPUT_KIND = "encrypted-output"
_KEY_ID = re.compile(r"[0-9a-f]{64}")


def key_id_of(evaluation_keys: bytes) -> str:
    """The id of serialized evaluation keys: their SHA-256, in hex (clients and servers agree on it)."""
    return hashlib.sha256(evaluation_keys).hexdigest()


def is_key_id(value: str) -> bool:
    return bool(_KEY_ID.fullmatch(value))


def pack_rows(kind: str, model_id: str, key_id: str, ciphertexts: list[bytes]) -> bytes:
    """One message holding one serialized ciphertext per row."""
    rows = [np.frombuffer(ciphertext, dtype=np.uint8) for ciphertext in ciphertexts]
    return to_bytes(kind, {"model_id": model_id, "key_id": key_id, "rows": rows})


def unpack_rows(data: bytes, kind: str, model_id: str, key_id: str | None = None) -> tuple[str, list[bytes]]:
    """Check a message's kind, model and (when given) key id; return its key id and ciphertexts."""
    what = "the encrypted input" if kind == ENCRYPTED_INPUT_KIND else "the encrypted result"
    try:
        _, content = from_bytes(data, kind, source=what)
    except ModelFileError as error:
        raise EncryptedDataError(str(error)) from None
    if not isinstance(content, dict) or not {"model_id", "key_id", "rows"} <= set(content):
        raise EncryptedDataError(f"{what} is incomplete: it needs model_id, key_id and rows")
    if content["model_id"] != model_id:
        raise EncryptedDataError(
            f"{what} was made for model {content['model_id']!r}, not for this model ({model_id!r})"
        )
    if key_id is not None and content["key_id"] != key_id:
        raise EncryptedDataError(
            f"{what} was encrypted under evaluation keys {content['key_id']!r}, not under the keys "
            f"{key_id!r} it came with: encrypt with the client whose keys you uploaded"
        )
    rows = content["rows"]
    if not isinstance(rows, list) or not rows:
        raise EncryptedDataError(f"{what} holds no rows")
    if any(not isinstance(row, np.ndarray) or row.dtype != np.uint8 or row.ndim != 1 for row in rows):
        raise EncryptedDataError(f"{what} holds rows that are not serialized ciphertexts")
    return content["key_id"], [row.tobytes() for row in rows]
