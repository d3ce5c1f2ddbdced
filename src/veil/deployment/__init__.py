"""Deploy a compiled model: a client that keeps the secret key, a server that computes on ciphertexts.

- :class:`FHEModelDev` saves a compiled model as ``client.veil`` and ``server.veil``.
- :class:`FHEModelClient` generates keys, encrypts rows and decrypts results.
- :class:`FHEModelServer` evaluates encrypted rows with the client's evaluation keys.
- ``veil serve <server-dir>`` runs the server as an HTTP service; :class:`ServiceClient` talks to it.
"""

from ._http_client import ServiceClient, ServiceError
from ._messages import key_id_of
from ._model_files import FHEModelClient, FHEModelDev, FHEModelServer

__all__ = ["FHEModelClient", "FHEModelDev", "FHEModelServer", "ServiceClient", "ServiceError", "key_id_of"]
