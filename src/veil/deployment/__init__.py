"""Deploy a compiled model: a client that keeps the secret key, a server that computes on ciphertexts.

- :class:`FHEModelDev` saves a compiled model as ``client.veil`` and ``server.veil``.
- :class:`FHEModelClient` generates keys, encrypts rows and decrypts results.
- :class:`FHEModelServer` evaluates encrypted rows with the client's evaluation keys.
- ``veil serve <server-dir>`` runs the server as an HTTP service; :class:`ServiceClient` talks to it.
- With the optional extra ``veil[ray]``: :func:`deploy_on_ray` (``veil serve --ray``) runs the service on
  Ray Serve replicas, :func:`run_many` scores many encrypted messages across a Ray cluster.

The model classes and the Ray functions are imported on first use: they bring concrete-python (and
Ray), which the HTTP service's own process must never load (its workers do).
"""

from ..errors import ServiceError
from ._http_client import ServiceClient
from ._messages import key_id_of

__all__ = [
    "FHEModelClient",
    "FHEModelDev",
    "FHEModelServer",
    "ServiceClient",
    "ServiceError",
    "deploy_on_ray",
    "key_id_of",
    "run_many",
]
_MODEL_FILES = ("FHEModelClient", "FHEModelDev", "FHEModelServer")
_RAY = ("deploy_on_ray", "run_many")


def __getattr__(name: str):
    if name in _MODEL_FILES:
        from . import _model_files

        return getattr(_model_files, name)
    if name in _RAY:
        from . import _ray

        return getattr(_ray, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
