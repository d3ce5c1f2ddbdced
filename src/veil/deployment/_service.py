"""``veil serve``: the server half of a model as an HTTP service (FastAPI on uvicorn).

Endpoints (bodies are raw bytes, ``application/octet-stream``; errors are JSON ``{"detail": "..."}``):

- ``GET /info``: the model id, the size of the keys it expects, the request limits.
- ``POST /keys``: upload serialized evaluation keys; returns ``{"key_id": ...}`` (their SHA-256). Keys are
  checked against the model's parameters and stored under the key directory, so a restart keeps them.
- ``POST /predict/{key_id}``: an encrypted-input message (several rows); returns the encrypted results.
- ``DELETE /keys/{key_id}``: forget uploaded keys.

The service only ever receives evaluation keys, which cannot decrypt; it stores nothing else.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from .._serialization import veil_version
from ..errors import EncryptedDataError
from ._messages import is_key_id, key_id_of
from ._model_files import FHEModelServer

KEY_SUFFIX = ".evalkeys"
_DRAIN_BYTES = 16 * 1024**2  # read at most this much past a limit before cutting the connection


@dataclass(frozen=True)
class ServiceLimits:
    """Upload limits and concurrency of the service."""

    max_key_bytes: int = 2 * 1024**3
    max_request_bytes: int = 64 * 1024**2
    max_rows: int = 64
    max_concurrent_runs: int = 1
    cached_keys: int = 2


def create_app(server_dir, key_dir=None, limits: ServiceLimits | None = None) -> FastAPI:
    """Build the ASGI app serving the model in ``server_dir`` (which holds ``server.veil``).

    Parameters
    ----------
    server_dir : str or pathlib.Path
    key_dir : str or pathlib.Path, optional
        Where uploaded evaluation keys are stored (default: ``<server_dir>/keys``).
    limits : ServiceLimits, optional
    """
    limits = limits or ServiceLimits()
    model = FHEModelServer(server_dir).load()
    key_store = KeyStore(Path(key_dir) if key_dir is not None else Path(server_dir) / "keys", model, limits)
    runs = asyncio.Semaphore(limits.max_concurrent_runs)
    app = FastAPI(title="Veil encrypted inference", version=veil_version())

    @app.get("/info")
    def info() -> dict:
        return {
            "model_id": model.model_id,
            "veil_version": veil_version(),
            "evaluation_key_bytes": model.circuit.evaluation_key_bytes,
            "ciphertext_shape": list(model.circuit.ciphertext_shape),
            "max_key_bytes": limits.max_key_bytes,
            "max_request_bytes": limits.max_request_bytes,
            "max_rows": limits.max_rows,
        }

    @app.post("/keys", status_code=201)
    async def upload_keys(request: Request) -> dict:
        data = await _read_body(request, limits.max_key_bytes, "evaluation keys")
        key_id = await run_in_threadpool(key_store.add, data)
        return {"key_id": key_id}

    @app.delete("/keys/{key_id}", status_code=204)
    def delete_keys(key_id: str) -> Response:
        key_store.remove(key_id)
        return Response(status_code=204)

    @app.post("/predict/{key_id}")
    async def predict(key_id: str, request: Request) -> Response:
        data = await _read_body(request, limits.max_request_bytes, "the encrypted input")
        keys = await run_in_threadpool(key_store.get, key_id)
        async with runs:
            try:
                result = await run_in_threadpool(model.run_with_keys, data, keys, key_id, limits.max_rows)
            except EncryptedDataError as error:
                raise HTTPException(status_code=422, detail=str(error)) from None
        return Response(content=result, media_type="application/octet-stream")

    return app


async def _read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 once it exceeds ``limit`` bytes.

    A moderately oversized body is read to its end (and dropped) before answering: a client still
    sending when the answer comes would see a broken pipe instead of the 413 and its reason.
    """
    declared = request.headers.get("content-length")
    too_large = HTTPException(status_code=413, detail=f"{what} exceed the limit of {limit} bytes")
    if declared is not None and declared.isdigit() and int(declared) > limit + _DRAIN_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + _DRAIN_BYTES:
            raise too_large
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise too_large
    if size == 0:
        raise HTTPException(status_code=400, detail=f"the request body is empty; expected {what}")
    return b"".join(chunks)


class KeyStore:
    """Evaluation keys on disk (one file per key id), with a few of them kept deserialized in memory."""

    def __init__(self, directory: Path, model: FHEModelServer, limits: ServiceLimits):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._model = model
        self._capacity = limits.cached_keys
        self._loaded: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()  # requests run in a thread pool

    def add(self, data: bytes) -> str:
        try:
            keys = self._model.load_evaluation_keys(data)
        except EncryptedDataError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None
        key_id = key_id_of(data)
        path = self._path(key_id)
        if not path.exists():
            partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: a crash never leaves half a key file under its final name
        self._remember(key_id, keys)
        return key_id

    def get(self, key_id: str):
        with self._lock:
            if key_id in self._loaded:
                self._loaded.move_to_end(key_id)
                return self._loaded[key_id]
        path = self._path(key_id)
        if not path.exists():
            raise HTTPException(
                status_code=404, detail=f"unknown key id {key_id!r}: upload keys to /keys first"
            )
        try:
            keys = self._model.load_evaluation_keys(path.read_bytes())
        except EncryptedDataError as error:
            raise HTTPException(
                status_code=500, detail=f"stored keys {key_id!r} are unreadable: {error}"
            ) from None
        self._remember(key_id, keys)
        return keys

    def remove(self, key_id: str) -> None:
        path = self._path(key_id)
        if not path.exists():
            raise HTTPException(status_code=404, detail=f"unknown key id {key_id!r}")
        path.unlink()
        with self._lock:
            self._loaded.pop(key_id, None)

    def _remember(self, key_id: str, keys) -> None:
        with self._lock:
            self._loaded[key_id] = keys
            self._loaded.move_to_end(key_id)
            while len(self._loaded) > self._capacity:
                self._loaded.popitem(last=False)

    def _path(self, key_id: str) -> Path:
        if not is_key_id(key_id):
            raise HTTPException(
                status_code=404, detail=f"unknown key id {key_id!r}: key ids are 64 hexadecimal characters"
            )
        return self.directory / f"{key_id}{KEY_SUFFIX}"
