"""The two halves of a compiled circuit: a client that holds the secret key, a server that holds none.

The server is shipped as the circuit's MLIR text plus the error probabilities it was compiled with, and
compiled again where it runs: no native library travels between machines, and the recompiled circuit is
checked to have exactly the cryptographic parameters the client's keys were made for.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from concrete import fhe

from ..errors import EncryptedDataError, VeilError
from ._circuit import COMPRESS_KEYS_AND_INPUTS, key_material_bytes

# Serialized evaluation keys are the raw key material plus a small envelope (320 bytes measured).
_KEY_ENVELOPE_SLACK = 4096


class FheServer:
    """Evaluates a compiled circuit on serialized ciphertexts, with a client's evaluation keys.

    Build it with :meth:`from_mlir`. It never sees a secret key: evaluation keys let it compute on
    ciphertexts, not decrypt them.
    """

    def __init__(self, server: fhe.Server):
        self._server = server
        self.client_specs: bytes = server.client_specs.serialize()
        spec = json.loads(self.client_specs)
        (circuit,) = spec["circuits"]
        (argument,) = circuit["inputs"]
        self.ciphertext_shape = tuple(argument["rawInfo"]["shape"]["dimensions"])
        self.evaluation_key_bytes = key_material_bytes(spec["keyset"])

    @classmethod
    def from_mlir(
        cls, mlir: str, p_error: float | None, global_p_error: float | None, client_specs: bytes | None = None
    ) -> FheServer:
        """Compile ``mlir`` with the error probabilities it was first compiled with.

        ``client_specs``, when given, must equal the recompiled circuit's: same key and ciphertext
        parameters, so keys made for the original circuit work on this one.
        """
        compress = COMPRESS_KEYS_AND_INPUTS if client_specs is None else _is_compressed(client_specs)
        configuration = fhe.Configuration(
            p_error=p_error,
            global_p_error=global_p_error,
            compress_evaluation_keys=compress,
            compress_input_ciphertexts=compress,
        )
        try:
            server = cls(fhe.Server.create(mlir, configuration))
        except RuntimeError as error:
            raise VeilError(f"the server circuit does not compile: {error}") from None
        if client_specs is not None and not _same_program(server.client_specs, client_specs):
            raise VeilError(
                "the recompiled server circuit has other cryptographic parameters than the client's; "
                "the server and client files do not belong together"
            )
        return server

    def load_evaluation_keys(self, data: bytes) -> fhe.EvaluationKeys:
        """Deserialize evaluation keys, refusing bytes that are not keys for this circuit's parameters.

        Keys of another circuit would crash the native runtime, so their size is checked against the
        key material this circuit's parameters need before any use.
        """
        expected = self.evaluation_key_bytes
        if not expected <= len(data) <= expected + _KEY_ENVELOPE_SLACK:
            raise EncryptedDataError(
                f"evaluation keys of {len(data)} bytes do not fit this model, whose keys hold {expected} "
                "bytes of key material: they were made for another model (or are not keys)"
            )
        try:
            return fhe.EvaluationKeys.deserialize(bytes(data))
        except RuntimeError as error:
            raise EncryptedDataError(f"the evaluation keys cannot be read: {error}") from None

    def run(self, ciphertext: bytes, evaluation_keys: fhe.EvaluationKeys) -> bytes:
        """Evaluate the circuit on one serialized ciphertext; return the serialized encrypted result."""
        try:
            value = fhe.Value.deserialize(bytes(ciphertext))
        except RuntimeError:
            raise EncryptedDataError("the encrypted input cannot be read as a ciphertext") from None
        try:
            result = self._server.run(value, evaluation_keys=evaluation_keys)
        except RuntimeError as error:
            raise EncryptedDataError(
                f"the encrypted input does not fit this model's circuit (expected a ciphertext of shape "
                f"{self.ciphertext_shape}): {error}"
            ) from None
        return result.serialize()


class FheClient:
    """Holds the secret key: generates keys, encrypts integer inputs, decrypts integer outputs."""

    def __init__(self, client_specs: bytes, key_file: str | Path | None = None):
        self._client = fhe.Client(fhe.ClientSpecs.deserialize(client_specs))
        self._key_file = Path(key_file) if key_file is not None else None

    def keygen(self, force: bool = False, seed: int | None = None) -> None:
        """Generate the secret and evaluation keys; with a key file, load them from it if it exists."""
        keys = self._client.keys
        if self._key_file is not None and not force:
            if self._key_file.exists():
                keys.load(self._key_file)
                return
            keys.generate(secret_seed=seed)
            self._key_file.parent.mkdir(parents=True, exist_ok=True)
            keys.save(self._key_file)
            return
        keys.generate(force=force, secret_seed=seed)
        if self._key_file is not None:
            self._key_file.unlink(missing_ok=True)
            keys.save(self._key_file)

    @property
    def has_keys(self) -> bool:
        return self._client.keys.are_generated

    def evaluation_keys(self) -> bytes:
        """The serialized evaluation keys, for the server. They reveal nothing about the secret key."""
        self._require_keys()
        return self._client.evaluation_keys.serialize()

    def encrypt(self, q_x: np.ndarray) -> bytes:
        """Encrypt one circuit input (integer codes of the circuit's input shape) and serialize it."""
        self._require_keys()
        return self._client.encrypt(np.asarray(q_x, dtype=np.int64)).serialize()

    def decrypt(self, result: bytes) -> np.ndarray:
        """Deserialize and decrypt one serialized circuit output."""
        self._require_keys()
        try:
            value = fhe.Value.deserialize(bytes(result))
            return np.asarray(self._client.decrypt(value), dtype=np.int64)
        except RuntimeError as error:
            raise EncryptedDataError(
                f"the encrypted result cannot be decrypted with these keys: {error}"
            ) from None

    def _require_keys(self) -> None:
        if not self.has_keys:
            raise VeilError("no keys yet: call generate_private_and_evaluation_keys() (keygen) first")


def _is_compressed(client_specs: bytes) -> bool:
    keyset = json.loads(client_specs)["keyset"]
    return any(key.get("compression") == "seed" for key in keyset["lweBootstrapKeys"])


def _same_program(specs: bytes, other: bytes) -> bool:
    # The TFHE-rs interop entry differs between a compiled and a recompiled server; the program does not.
    def program(raw: bytes) -> dict:
        spec = json.loads(raw)
        spec.pop("tfhers_specs", None)
        return spec

    return program(specs) == program(other)
