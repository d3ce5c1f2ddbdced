"""``veil serve``: the server half of a model as an HTTP service (FastAPI on uvicorn).

Endpoints (bodies are raw bytes, ``application/octet-stream``; errors are JSON ``{"detail": "..."}``):

- ``GET /info``, ``GET /health``: open to everyone. The model id, key size and limits; whether workers run.
- ``GET /keys``: the caller's key ids and quota.
- ``POST /keys``: upload serialized evaluation keys; ``201 {"key_id": ...}`` (their SHA-256) once a worker
  has loaded them and run an encrypted zero row through them.
- ``POST /predict/{key_id}``: an encrypted-input message (several rows); returns the encrypted results.
- ``DELETE /keys/{key_id}``: forget uploaded keys.

Every call but ``/info`` and ``/health`` needs the caller's API token when tokens are configured
(:mod:`veil.deployment._auth`); a client only ever sees, uses and deletes its own keys. This process never
runs concrete-python: workers do (:mod:`veil.deployment._pool`), so client bytes that crash the native
runtime cost one worker, which is replaced. The service only ever receives evaluation keys, which cannot
decrypt; it stores nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .._serialization import read_file, veil_version
from ._auth import RequestRefusedError, Tokens
from ._key_store import DRAIN_BYTES, KeyStore, StagedKeys
from ._messages import SERVER_FILE, SERVER_KIND
from ._pool import WorkerCrashError, WorkerError, WorkerInputError, WorkerPool, log_event

# Uploads are cut off once this much larger than the model's key material; the worker checks exactly.
_KEY_SIZE_MARGIN = 1024**2


@dataclass(frozen=True)
class ServiceLimits:
    """Upload limits, quotas and concurrency of the service.

    ``max_concurrent_runs`` is the number of evaluation workers; each keeps ``cached_keys`` keys
    deserialized. A job running longer than ``run_timeout`` seconds has its worker stopped.
    """

    max_key_bytes: int = 2 * 1024**3
    max_request_bytes: int = 64 * 1024**2
    max_rows: int = 64
    max_concurrent_runs: int = 1
    cached_keys: int = 2
    max_keys_per_client: int = 8
    max_bytes_per_client: int = 4 * 1024**3
    run_timeout: float = 600.0


def create_app(server_dir, key_dir=None, limits: ServiceLimits | None = None, tokens: Tokens | None = None):
    """Build the ASGI app serving the model in ``server_dir`` (which holds ``server.veil``).

    Starts the evaluation workers (each compiles the circuit) and returns once they are ready.

    Parameters
    ----------
    server_dir : str or pathlib.Path
    key_dir : str or pathlib.Path, optional
        Where uploaded evaluation keys are stored (default: ``<server_dir>/keys``).
    limits : ServiceLimits, optional
    tokens : Tokens, optional
        The API tokens; without any, the service is open and every caller is ``anonymous``.
    """
    service = build_service(server_dir, key_dir, limits, tokens)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        service.pool.close()

    app = FastAPI(title="Veil encrypted inference", version=veil_version(), lifespan=lifespan)
    app.add_exception_handler(RequestRefusedError, refusal_answer)
    app.get("/info")(service.info)
    app.get("/health")(service.health)
    app.get("/keys")(service.list_keys)
    app.post("/keys", status_code=201)(service.upload_keys)
    app.delete("/keys/{key_id}", status_code=204)(service.delete_keys)
    app.post("/predict/{key_id}")(service.predict)
    return app


def build_service(
    server_dir, key_dir=None, limits: ServiceLimits | None = None, tokens: Tokens | None = None
):
    """The endpoints' implementation over a started worker pool (:func:`create_app` and Ray replicas)."""
    limits = limits or ServiceLimits()
    tokens = tokens or Tokens({})
    # A missing or foreign server file is the caller's to fix: say so here, not from a worker's start.
    read_file(Path(server_dir) / SERVER_FILE, SERVER_KIND)
    pool = WorkerPool(server_dir, limits.max_concurrent_runs, limits.cached_keys, limits.run_timeout)
    directory = Path(key_dir) if key_dir is not None else Path(server_dir) / "keys"
    store = KeyStore(directory, limits.max_keys_per_client, limits.max_bytes_per_client)
    if tokens.open:
        log_event(logging.WARNING, "no_api_tokens", detail="every caller shares the identity 'anonymous'")
    return _Service(pool, store, tokens, limits)


async def refusal_answer(request: Request, refusal: RequestRefusedError) -> JSONResponse:
    level = logging.ERROR if refusal.status >= 500 else logging.INFO
    log_event(
        level,
        "refused",
        method=request.method,
        path=request.url.path,
        status=refusal.status,
        reason=repr(refusal.detail),
    )
    return JSONResponse({"detail": refusal.detail}, status_code=refusal.status)


class _Service:
    """The endpoints, over a worker pool, a key store and the tokens."""

    def __init__(self, pool: WorkerPool, store: KeyStore, tokens: Tokens, limits: ServiceLimits):
        self.pool, self.store, self.tokens, self.limits = pool, store, tokens, limits

    def info(self) -> dict:
        return {
            **self.pool.info,
            "veil_version": veil_version(),
            "authentication": "none" if self.tokens.open else "bearer-token",
            "max_key_bytes": self.limits.max_key_bytes,
            "max_request_bytes": self.limits.max_request_bytes,
            "max_rows": self.limits.max_rows,
            "max_keys_per_client": self.limits.max_keys_per_client,
            "max_bytes_per_client": self.limits.max_bytes_per_client,
        }

    def health(self) -> JSONResponse:
        workers = self.pool.size
        body = {
            "status": "ok" if workers else "no workers",
            "workers": workers,
            "restarts": self.pool.restarts,
        }
        return JSONResponse(body, status_code=200 if workers else 503)

    def list_keys(self, request: Request) -> dict:
        client = self._client(request)
        held = self.store.keys_of(client)
        return {
            "client": client,
            "keys": [{"key_id": key_id, "bytes": size} for key_id, size in sorted(held.items())],
            "stored_bytes": sum(held.values()),
        }

    async def upload_keys(self, request: Request) -> dict:
        started = time.monotonic()
        model_bound = self.pool.info["evaluation_key_bytes"] + _KEY_SIZE_MARGIN
        try:
            client = self._client(request)
            limit = min(self.store.upload_limit(client, self.limits.max_key_bytes), model_bound)
        except RequestRefusedError:
            await _drain(request, model_bound)
            raise
        _refuse_declared_size(request, limit, "the evaluation keys")
        staged = await self.store.receive(client, request.stream(), limit)
        try:
            await run_in_threadpool(self._validate, staged)
            stored = await run_in_threadpool(self.store.commit, staged)
        finally:
            self.store.discard(staged)
        seconds = f"{time.monotonic() - started:.2f}"
        log_event(
            logging.INFO,
            "keys_uploaded",
            client=client,
            key_id=staged.key_id,
            bytes=staged.size,
            new=stored,
            seconds=seconds,
        )
        return {"key_id": staged.key_id}

    def _validate(self, staged: StagedKeys) -> None:
        reason = self.store.quarantine_reason(staged.key_id)
        if reason is not None:
            raise RequestRefusedError(400, f"these evaluation keys are quarantined ({reason})")
        if staged.key_id in self.store.keys_of(staged.client):
            return
        job = ("validate_keys", staged.key_id, str(staged.path), self.pool.probe)
        try:
            self.pool.run(job, staged.key_id)
        except WorkerInputError as refusal:
            raise RequestRefusedError(400, str(refusal)) from None
        except WorkerCrashError as crash:  # a hang counts too: keys that stall the runtime stall every run
            self._quarantine(staged.client, staged.key_id, f"at upload, the worker {crash.reason}")
            raise RequestRefusedError(
                400,
                f"these evaluation keys crashed the evaluation worker (it {crash.reason}): "
                "they are quarantined",
            ) from None
        except WorkerError as failure:
            raise RequestRefusedError(503, f"the keys could not be checked: {failure}") from None

    async def predict(self, key_id: str, request: Request) -> Response:
        try:
            client = self._client(request)
        except RequestRefusedError:
            await _drain(request, self.limits.max_request_bytes)
            raise
        data = await _read_body(request, self.limits.max_request_bytes, "the encrypted input")
        path = self.store.path(client, key_id)
        started = time.monotonic()
        result = await run_in_threadpool(self._run, client, key_id, path, data)
        log_event(
            logging.INFO,
            "predicted",
            client=client,
            key_id=key_id,
            request_bytes=len(data),
            seconds=f"{time.monotonic() - started:.3f}",
        )
        return Response(content=result, media_type="application/octet-stream")

    def _run(self, client: str, key_id: str, path: Path, data: bytes) -> bytes:
        try:
            return self.pool.run(("predict", key_id, str(path), data, self.limits.max_rows), key_id)
        except WorkerInputError as refusal:
            raise RequestRefusedError(422, str(refusal)) from None
        except WorkerError as failure:
            raise RequestRefusedError(500, f"the evaluation failed on the server: {failure}") from None
        except WorkerCrashError as crash:
            if crash.timed_out:
                raise RequestRefusedError(504, str(crash)) from None
            raise self._blame(client, key_id, path, crash) from None

    def _blame(self, client: str, key_id: str, path: Path, crash: WorkerCrashError) -> RequestRefusedError:
        """Who crashed the worker: run the probe row through the keys in the fresh worker. If they crash
        (or fail) again the keys are at fault and quarantined; otherwise the encrypted input was."""
        try:
            self.pool.run(("validate_keys", key_id, str(path), self.pool.probe), key_id)
        except (WorkerCrashError, WorkerInputError) as again:
            reason = f"it {again.reason}" if isinstance(again, WorkerCrashError) else str(again)
            self._quarantine(client, key_id, f"at evaluation: {reason}", path)
            self.pool.forget(key_id)
            return RequestRefusedError(
                422,
                f"the evaluation keys {key_id} crashed the evaluation worker ({reason}): "
                "they are quarantined, upload new keys",
            )
        except WorkerError as failure:
            return RequestRefusedError(503, f"{crash}; the keys could not be checked again: {failure}")
        return RequestRefusedError(
            422,
            f"the encrypted input crashed the evaluation worker (it {crash.reason}); the worker was replaced",
        )

    def _quarantine(self, client: str, key_id: str, reason: str, path: Path | None = None) -> None:
        self.store.quarantine(key_id, client, reason, path)
        log_event(logging.WARNING, "keys_quarantined", client=client, key_id=key_id, reason=repr(reason))

    async def delete_keys(self, key_id: str, request: Request) -> Response:
        client = self._client(request)
        self.store.remove(client, key_id)
        await run_in_threadpool(self.pool.forget, key_id)
        log_event(logging.INFO, "keys_deleted", client=client, key_id=key_id)
        return Response(status_code=204)

    def _client(self, request: Request) -> str:
        return self.tokens.client_of(request.headers.get("authorization"))


async def _read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 once it exceeds ``limit`` bytes (checked while reading).

    A moderately oversized body is read to its end (and dropped) before answering: a client still
    sending when the answer comes would see a broken pipe instead of the 413 and its reason.
    """
    _refuse_declared_size(request, limit, what)
    too_large = RequestRefusedError(413, f"{what} exceed the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + DRAIN_BYTES:
            raise too_large
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise too_large
    if size == 0:
        raise RequestRefusedError(400, f"the request body is empty; expected {what}")
    return b"".join(chunks)


async def _drain(request: Request, up_to: int) -> None:
    """Read and drop a body of at most ``up_to`` bytes before refusing the request: a client still sending
    when the answer comes would see a broken connection instead of the refusal and its reason."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > up_to:
        return
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > up_to:
            return


def _refuse_declared_size(request: Request, limit: int, what: str) -> None:
    """413 at once for a body declared far larger than ``limit`` (no use reading it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + DRAIN_BYTES:
        raise RequestRefusedError(413, f"{what} exceed the limit of {limit} bytes")
