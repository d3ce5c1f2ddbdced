"""Ship a compiled model: the developer saves it, the client encrypts and decrypts, the server computes.

``FHEModelDev(path, model).save()`` writes two Veil files (see :mod:`veil._serialization` for the
container):

- ``client.veil`` (kind ``"veil-client"``): how to encode inputs (input quantizer and any float
  pre-processing) and decode outputs (output quantizer, trailing float ops, softmax and class labels for
  a classifier), the circuit's key and ciphertext parameters (concrete's client specs), and the model id.
  It holds no weights.
- ``server.veil`` (kind ``"veil-server"``): the circuit as MLIR text, the error probabilities it was
  compiled with, the client specs it must reproduce, and the model id. The server compiles the MLIR
  when it loads; a file whose recompiled circuit has other parameters than the client's is refused.

The model id is the SHA-256 of the MLIR and the client specs: client, server and every message agree on it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .. import fhe
from .._progress import SLOW_STEP_SECONDS, map_rows, stage
from .._serialization import read_file, write_file
from ..errors import EncryptedDataError, NotCompiledError, VeilError
from ..quantization import (
    QuantizedModule,
    as_input_rows,
    class_labels,
    class_probabilities,
    regression_values,
)
from ._messages import (
    CLIENT_FILE,
    CLIENT_KIND,
    ENCRYPTED_INPUT_KIND,
    ENCRYPTED_OUTPUT_KIND,
    SERVER_FILE,
    SERVER_KIND,
    key_id_of,
    pack_rows,
    unpack_rows,
)


class FHEModelDev:
    """Save a compiled model as a client file and a server file.

    Parameters
    ----------
    path : str or pathlib.Path
        Directory to write ``client.veil`` and ``server.veil`` into (created if missing).
    model : NeuralNetClassifier, NeuralNetRegressor or QuantizedModule
        A compiled model (``compile`` was called).
    """

    def __init__(self, path, model):
        self.path = Path(path)
        self.model = model

    def save(self, overwrite: bool = False) -> tuple[Path, Path]:
        """Write the two files; refuse to replace existing ones unless ``overwrite``. Returns their paths."""
        module, output = _module_and_output(self.model)
        if module.fhe_circuit is None:
            raise NotCompiledError(
                "the model is not compiled: call compile(X_train) before saving it for FHE"
            )
        client_path, server_path = self.path / CLIENT_FILE, self.path / SERVER_FILE
        existing = [str(p) for p in (client_path, server_path) if p.exists()]
        if existing and not overwrite:
            raise FileExistsError(f"{', '.join(existing)} already exist; pass overwrite=True to replace them")
        description = module.fhe_circuit.server_description()
        specs = description["client_specs"]
        model_id = hashlib.sha256(description["mlir"].encode() + specs).hexdigest()
        specs_array = np.frombuffer(specs, dtype=np.uint8)
        self.path.mkdir(parents=True, exist_ok=True)
        write_file(
            client_path,
            CLIENT_KIND,
            {
                "model_id": model_id,
                "input_encoder": module.input_encoder,
                "output_decoder": module.output_decoder,
                "output": output,
                "client_specs": specs_array,
                "input_shape": description["input_shape"],
            },
        )
        write_file(
            server_path,
            SERVER_KIND,
            {
                "model_id": model_id,
                "mlir": description["mlir"],
                "p_error": description["p_error"],
                "global_p_error": description["global_p_error"],
                "client_specs": specs_array,
            },
        )
        return client_path, server_path


def _module_and_output(model) -> tuple[QuantizedModule, dict]:
    """The model's integer module, and how its decoded output becomes a prediction."""
    if isinstance(model, QuantizedModule):
        return model, {"task": "module"}
    module = getattr(model, "quantized_module_", None)
    if module is None:
        raise NotCompiledError(
            f"expected a fitted and compiled Veil estimator or QuantizedModule, got {type(model).__name__}"
        )
    if hasattr(model, "classes_"):
        classes = np.asarray(model.classes_)
        return module, {
            "task": "classifier",
            "classes": classes.astype(str) if classes.dtype == object else classes,
        }
    return module, {"task": "regressor"}


class FHEModelClient:
    """The client half: keys, encoding and encryption of rows, decryption and decoding of results.

    Parameters
    ----------
    path : str or pathlib.Path
        Directory holding ``client.veil`` (from :class:`FHEModelDev`).
    key_dir : str or pathlib.Path, optional
        Where to keep the keys (secret and evaluation) across sessions. Without it they live in memory.
        The secret key is written unencrypted: keep this directory private.
    """

    def __init__(self, path, key_dir=None):
        _, content = read_file(Path(path) / CLIENT_FILE, CLIENT_KIND)
        self.model_id: str = content["model_id"]
        self.input_encoder = content["input_encoder"]
        self.output_decoder = content["output_decoder"]
        self.output: dict = content["output"]
        key_file = Path(key_dir) / f"keys-{self.model_id[:16]}.bin" if key_dir is not None else None
        self._fhe = fhe.FheClient(content["client_specs"].tobytes(), key_file=key_file)
        self._evaluation_keys: bytes | None = None

    def generate_private_and_evaluation_keys(self, force: bool = False) -> None:
        """Generate keys (or load them from ``key_dir``); ``force`` makes new ones."""
        with stage("key generation", delay=SLOW_STEP_SECONDS):
            self._fhe.keygen(force=force)
        self._evaluation_keys = None

    def get_serialized_evaluation_keys(self) -> bytes:
        """The evaluation keys to send to the server (they cannot decrypt anything)."""
        if self._evaluation_keys is None:
            self._evaluation_keys = self._fhe.evaluation_keys()
        return self._evaluation_keys

    @property
    def key_id(self) -> str:
        """The id the server gives these evaluation keys: their SHA-256."""
        return key_id_of(self.get_serialized_evaluation_keys())

    def quantize_encrypt_serialize(self, *X) -> bytes:
        """Validate float rows (one array per graph input), encode them, encrypt each row, pack them."""
        codes = self.input_encoder.encode(*as_input_rows(self.input_encoder, X, "X", min_rows=1))
        ciphertexts = map_rows(self._fhe.encrypt, codes, "encryption", delay=SLOW_STEP_SECONDS)
        return pack_rows(ENCRYPTED_INPUT_KIND, self.model_id, self.key_id, ciphertexts)

    def deserialize_decrypt(self, result: bytes) -> np.ndarray:
        """The circuit's integer outputs, one row per encrypted input row."""
        _, ciphertexts = unpack_rows(result, ENCRYPTED_OUTPUT_KIND, self.model_id, self.key_id)
        rows = map_rows(self._decrypt_one, ciphertexts, "decryption", delay=SLOW_STEP_SECONDS)
        return np.concatenate(rows)

    def _decrypt_one(self, ciphertexts: list) -> np.ndarray:
        (ciphertext,) = ciphertexts
        return self._fhe.decrypt(ciphertext)

    def deserialize_decrypt_dequantize(self, result: bytes) -> np.ndarray:
        """Float outputs: class probabilities for a classifier, predictions for a regressor."""
        outputs = self.output_decoder.decode(self.deserialize_decrypt(result))
        task = self.output["task"]
        if task == "classifier":
            return class_probabilities(outputs)
        if task == "regressor":
            return regression_values(outputs)
        return outputs

    def deserialize_decrypt_predict(self, result: bytes) -> np.ndarray:
        """Predictions: class labels for a classifier (text labels come back as ``str``), values otherwise."""
        if self.output["task"] == "classifier":
            logits = self.output_decoder.decode(self.deserialize_decrypt(result))
            return class_labels(logits, self.output["classes"])
        return self.deserialize_decrypt_dequantize(result)


class FHEModelServer:
    """The server half: evaluates encrypted rows with a client's evaluation keys. It has no secret key.

    Parameters
    ----------
    path : str or pathlib.Path
        Directory holding ``server.veil`` (from :class:`FHEModelDev`).
    """

    def __init__(self, path):
        self.path = Path(path)
        self._server: fhe.FheServer | None = None
        self.model_id: str | None = None

    def load(self) -> FHEModelServer:
        """Read ``server.veil`` and compile its circuit (a few seconds)."""
        _, content = read_file(self.path / SERVER_FILE, SERVER_KIND)
        self._server = fhe.FheServer.from_mlir(
            content["mlir"],
            content["p_error"],
            content["global_p_error"],
            client_specs=content["client_specs"].tobytes(),
        )
        self.model_id = content["model_id"]
        return self

    @property
    def circuit(self) -> fhe.FheServer:
        if self._server is None:
            raise VeilError("the server is not loaded: call load() first")
        return self._server

    def load_evaluation_keys(self, serialized_evaluation_keys: bytes):
        """Check and deserialize evaluation keys (refused if they do not fit this model's parameters)."""
        return self.circuit.load_evaluation_keys(serialized_evaluation_keys)

    def run(self, serialized_encrypted_input: bytes, serialized_evaluation_keys: bytes) -> bytes:
        """Evaluate every row of an encrypted message; return the encrypted results as one message."""
        keys = self.load_evaluation_keys(serialized_evaluation_keys)
        key_id = key_id_of(serialized_evaluation_keys)
        return self._run_rows(serialized_encrypted_input, keys, key_id, None, "FHE execution (server)")

    def run_with_keys(self, serialized_encrypted_input: bytes, evaluation_keys, key_id: str, max_rows=None):
        """:meth:`run` with keys already loaded (a service keeps them between requests).

        It shows no progress: it runs in the service's workers, whose terminal is the service's log.
        """
        return self._run_rows(serialized_encrypted_input, evaluation_keys, key_id, max_rows, None)

    def _run_rows(self, message: bytes, evaluation_keys, key_id: str, max_rows, label) -> bytes:
        _, ciphertexts = unpack_rows(message, ENCRYPTED_INPUT_KIND, self.model_id, key_id)
        if max_rows is not None and len(ciphertexts) > max_rows:
            raise EncryptedDataError(f"a request holds at most {max_rows} rows, this one {len(ciphertexts)}")

        def run(piece: list) -> bytes:
            (ciphertext,) = piece
            return self.circuit.run(ciphertext, evaluation_keys)

        return pack_rows(ENCRYPTED_OUTPUT_KIND, self.model_id, key_id, map_rows(run, ciphertexts, label))
