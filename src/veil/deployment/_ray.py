"""Scale-out on Ray (the optional extra ``veil[ray]``): the service on N Ray Serve replicas, batch scoring.

- :func:`deploy_on_ray` runs the same endpoints as ``veil serve`` on ``replicas`` Ray Serve replicas. Each
  replica is one :class:`~veil.deployment._service.build_service` (its own evaluation workers: crash
  isolation holds per replica) over a key directory they all share. Predictions are routed by key id with
  Serve's model multiplexing (header ``serve_multiplexed_model_id``, which :class:`ServiceClient` sends):
  a request goes to a replica that already holds its keys expanded, and each replica keeps an LRU of
  ``cached_keys`` key ids, the same number its worker keeps deserialized.
- :func:`run_many` scores many encrypted messages across a Ray cluster: Ray actors each load the circuit
  and the keys once, then share the messages.

The key directory must be one that every replica can read (one machine, or a shared file system).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._auth import RequestRefusedError, Tokens
from ._service import ServiceLimits, build_service, refusal_answer

logger = logging.getLogger("veil.deployment")
MULTIPLEX_HEADER = "serve_multiplexed_model_id"


def replica_deployment(
    server_dir, key_dir, limits: ServiceLimits | None = None, tokens: Tokens | None = None
):
    """A Ray Serve deployment (bound, ready for ``serve.run``) of the service; options such as
    ``num_replicas`` are set with ``.options(...)`` before binding, see :func:`deploy_on_ray`."""
    limits = limits or ServiceLimits()

    @serve.deployment(max_ongoing_requests=max(2, 2 * limits.max_concurrent_runs))
    class FHEReplica:
        def __init__(self):
            self.service = build_service(server_dir, key_dir, limits, tokens)
            self.name = serve.get_replica_context().replica_id.unique_id

        @serve.multiplexed(max_num_models_per_replica=limits.cached_keys)
        async def hold_keys(self, key_id: str) -> str:
            # Routing only: the keys are expanded lazily by this replica's worker, which keeps as many.
            return key_id

        async def __call__(self, request: Request) -> Response:
            try:
                return await self._route(request)
            except RequestRefusedError as refusal:
                return await refusal_answer(request, refusal)

        async def _route(self, request: Request) -> Response:
            service, method = self.service, request.method
            _, section, *rest = request.url.path.rstrip("/").split("/") + [""]
            key_id = rest[0] if rest else ""
            if method == "GET" and section in ("info", "health", "keys") and not key_id:
                answer = {"info": service.info, "health": service.health, "keys": service.list_keys}[section]
                result = answer(request) if section == "keys" else answer()
                return result if isinstance(result, Response) else JSONResponse(result)
            if method == "POST" and section == "keys" and not key_id:
                return JSONResponse(await service.upload_keys(request), status_code=201)
            if method == "DELETE" and section == "keys" and key_id:
                return await service.delete_keys(key_id, request)
            if method == "POST" and section == "predict" and key_id:
                await self.hold_keys(key_id)
                answer = await service.predict(key_id, request)
                answer.headers["x-veil-replica"] = self.name
                return answer
            raise RequestRefusedError(404, f"no endpoint {method} {request.url.path}")

        def __del__(self):
            self.service.pool.close()

    return FHEReplica


def _start_ray() -> None:
    """Connect to (or start) Ray, without letting it replace ``builtins.print`` for the whole process.

    Ray swaps ``print`` for one that draws around its progress bars and never restores it; skorch then
    prints its epoch tables whatever ``verbose`` says. ``RAY_TQDM_PATCH_PRINT=0`` (a user's own value
    wins) turns the swap off.
    """
    if not ray.is_initialized():
        os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
        ray.init(logging_level=logging.WARNING)


def deploy_on_ray(
    server_dir,
    key_dir,
    replicas: int = 2,
    limits: ServiceLimits | None = None,
    tokens: Tokens | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    blocking: bool = False,
):
    """Serve the model in ``server_dir`` on ``replicas`` Ray Serve replicas at ``http://host:port``.

    Connects to the Ray cluster named by ``RAY_ADDRESS`` or starts a local one. Returns the deployment
    handle (or, with ``blocking``, serves until interrupted).
    """
    key_dir = Path(key_dir).resolve()
    key_dir.mkdir(parents=True, exist_ok=True)
    _start_ray()
    serve.start(http_options={"host": host, "port": port})
    deployment = replica_deployment(str(Path(server_dir).resolve()), str(key_dir), limits, tokens)
    application = deployment.options(num_replicas=replicas).bind()
    return serve.run(application, name="veil", route_prefix="/", blocking=blocking)


@ray.remote
class _Scorer:
    """One Ray actor: the circuit and one client's evaluation keys, loaded once."""

    def __init__(self, server_dir: str, serialized_evaluation_keys: bytes):
        from ._messages import key_id_of
        from ._model_files import FHEModelServer

        self.server = FHEModelServer(server_dir).load()
        self.keys = self.server.load_evaluation_keys(serialized_evaluation_keys)
        self.key_id = key_id_of(serialized_evaluation_keys)

    def run(self, message: bytes) -> bytes:
        return self.server.run_with_keys(message, self.keys, self.key_id)


def run_many(
    server_dir, serialized_evaluation_keys: bytes, messages, actors: int = 2, start_timeout: float = 300.0
) -> list[bytes]:
    """Score encrypted messages (from ``FHEModelClient.quantize_encrypt_serialize``) on a Ray cluster.

    Parameters
    ----------
    server_dir : str or pathlib.Path
        Directory holding ``server.veil``, readable from every node.
    serialized_evaluation_keys : bytes
        The client's evaluation keys (put once in Ray's object store, shared by the actors).
    messages : iterable of bytes
        Encrypted-input messages of that client; each may hold several rows.
    actors : int
        Ray actors sharing the work. Ray places an actor only on a node with a free CPU (then it holds
        none): on a cluster whose CPUs are all taken, by Serve replicas for instance, none starts.
    start_timeout : float
        Seconds to wait for the actors to start (placed, circuit and keys loaded); past it, a
        ``TimeoutError`` says how many CPUs the cluster had free, instead of waiting forever.

    Returns
    -------
    list of bytes
        The encrypted results, in the order of ``messages``.
    """
    _start_ray()
    keys = ray.put(serialized_evaluation_keys)
    scorers = [_Scorer.remote(str(Path(server_dir).resolve()), keys) for _ in range(actors)]
    try:
        _wait_started(scorers, start_timeout)
        pool = ray.util.ActorPool(scorers)
        return list(pool.map(lambda actor, message: actor.run.remote(message), list(messages)))
    finally:
        for scorer in scorers:
            ray.kill(scorer)


def _wait_started(scorers: list, timeout: float) -> None:
    """Return once every actor has run its constructor (raising its error if it failed)."""
    started = [scorer.__ray_ready__.remote() for scorer in scorers]
    ready, waiting = ray.wait(started, num_returns=len(started), timeout=timeout)
    if waiting:
        free = ray.available_resources().get("CPU", 0)
        raise TimeoutError(
            f"{len(waiting)} of {len(scorers)} scoring actors did not start within start_timeout={timeout} s;"
            f" an actor needs a free CPU to be placed and the cluster has {free:g} free"
        )
    ray.get(ready)
