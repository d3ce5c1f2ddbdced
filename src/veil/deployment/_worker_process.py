"""The inside of one evaluation worker: the only place where the service runs concrete-python.

A worker is a spawned process holding the compiled server circuit and a few deserialized evaluation
keys. It answers jobs sent over a pipe by :mod:`veil.deployment._pool`. Evaluation keys and ciphertexts
come from clients, and the native runtime can abort or segfault on malformed ones: that kills this
process only, never the one answering HTTP.

Jobs are tuples ``(name, *arguments)``; every answer is ``(status, value)`` with status

- ``"ok"``: the job's result;
- ``"refused"``: the client's input cannot be evaluated (a message saying why, for a 4xx answer);
- ``"error"``: an unexpected failure on the server's side (for a 5xx answer).
"""

from __future__ import annotations

import json
import os
import signal
from collections import OrderedDict
from pathlib import Path

import numpy as np

# Errors raised while reading or evaluating a client's bytes: the bytes are at fault, not the server.
# (Deserializers hit by edited bytes raise MemoryError for absurd sizes, ValueError or RuntimeError.)
_CLIENT_INPUT_ERRORS = (ValueError, RuntimeError, MemoryError, OverflowError, TypeError, IndexError, KeyError)


def worker_main(connection, server_dir: str, cached_keys: int) -> None:
    """Entry point of a worker process: load the circuit, announce it, then answer jobs until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    try:
        worker = _Worker(Path(server_dir), cached_keys)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which refuses to start
        connection.send(("error", f"{type(error).__name__}: {error}"))
        _leave(1)
    connection.send(("ok", worker.describe()))
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            _leave(0)
        connection.send(worker.answer(job))


def _leave(status: int) -> None:
    # os._exit: concrete's teardown would otherwise run (and reset the exit status).
    os._exit(status)


class _Worker:
    def __init__(self, server_dir: Path, cached_keys: int):
        from ._model_files import FHEModelServer

        self.model = FHEModelServer(server_dir).load()
        self._capacity = cached_keys
        self._keys: OrderedDict[str, object] = OrderedDict()

    def describe(self) -> dict:
        circuit = self.model.circuit
        return {
            "model_id": self.model.model_id,
            "evaluation_key_bytes": circuit.evaluation_key_bytes,
            "ciphertext_shape": list(circuit.ciphertext_shape),
            "pid": os.getpid(),
        }

    def answer(self, job: tuple) -> tuple[str, object]:
        name, *arguments = job
        try:
            return "ok", getattr(self, f"job_{name}")(*arguments)
        except _CLIENT_INPUT_ERRORS as error:
            return "refused", _describe_error(error)
        except Exception as error:  # noqa: BLE001 - reported to the parent as a server error
            return "error", f"{type(error).__name__}: {error}"

    def job_probe_ciphertext(self) -> bytes:
        """An encrypted zero row under throwaway keys: enough to drive the circuit with any client's keys."""
        from .. import fhe

        specs = self.model.circuit.client_specs
        ((argument,),) = (circuit["inputs"] for circuit in json.loads(specs)["circuits"])
        shape = argument["typeInfo"]["lweCiphertext"]["abstractShape"]["dimensions"]
        client = fhe.FheClient(specs)
        client.keygen(seed=0)
        return client.encrypt(np.zeros(shape, dtype=np.int64))

    def job_validate_keys(self, key_id: str, path: str, probe: bytes) -> None:
        """Load keys and run the probe row through them. The result is noise (other secret key) and
        is dropped: what matters is that the runtime used every key without failing."""
        keys = self.model.load_evaluation_keys(Path(path).read_bytes())
        self.model.circuit.run(probe, keys)
        self._remember(key_id, keys)

    def job_predict(self, key_id: str, path: str, message: bytes, max_rows: int) -> bytes:
        keys = self._keys.get(key_id)
        if keys is None:
            keys = self.model.load_evaluation_keys(Path(path).read_bytes())
        self._remember(key_id, keys)
        return self.model.run_with_keys(message, keys, key_id, max_rows)

    def job_forget(self, key_id: str) -> None:
        self._keys.pop(key_id, None)

    def _remember(self, key_id: str, keys) -> None:
        self._keys[key_id] = keys
        self._keys.move_to_end(key_id)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)


def _describe_error(error: Exception) -> str:
    from ..errors import VeilError

    if isinstance(error, VeilError):
        return str(error)
    return f"the data cannot be evaluated ({type(error).__name__}: {error})"
