"""Who is calling: API tokens configured on the server, each naming one client.

Tokens come from a file (``veil serve --token-file``) and/or the ``VEIL_API_TOKENS`` environment
variable, in the same format: entries ``client-name:token``, one per line in the file (``#`` starts a
comment), separated by commas or newlines in the variable. A request presents its token as
``Authorization: Bearer <token>``. Client names become directory names in the key store, so they are
restricted to letters, digits, ``_``, ``.`` and ``-``.

With no token configured the service runs open: every caller is the one client ``anonymous``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..errors import TokenConfigError

TOKENS_VARIABLE = "VEIL_API_TOKENS"
ANONYMOUS = "anonymous"
MIN_TOKEN_LENGTH = 16
_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class RequestRefusedError(Exception):
    """A request the service refuses: the HTTP status and the reason sent back as ``{"detail": ...}``.

    Internal to the service, which turns it into its HTTP answer: a caller sees a
    :class:`veil.errors.ServiceError`, so this type stays here rather than in :mod:`veil.errors`.
    """

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Tokens:
    """The configured tokens, stored by SHA-256 (a lookup never compares secrets byte by byte)."""

    def __init__(self, clients_by_token: dict[str, str]):
        self._clients = {_digest(token): client for token, client in clients_by_token.items()}

    @classmethod
    def load(cls, token_file=None, environ=None) -> Tokens:
        """Tokens from ``token_file`` (optional) and the ``VEIL_API_TOKENS`` variable of ``environ``."""
        environ = os.environ if environ is None else environ
        sources = []
        if token_file is not None:
            sources.append((str(token_file), Path(token_file).read_text().splitlines()))
        if environ.get(TOKENS_VARIABLE):
            sources.append((TOKENS_VARIABLE, re.split(r"[,\n]", environ[TOKENS_VARIABLE])))
        clients: dict[str, str] = {}
        for source, entries in sources:
            for entry in entries:
                entry = entry.split("#", 1)[0].strip()
                if entry:
                    client, token = _parse_entry(entry, source)
                    if token in clients and clients[token] != client:
                        raise TokenConfigError(
                            f"{source}: one token is given to {clients[token]!r} and {client!r}"
                        )
                    clients[token] = client
        return cls(clients)

    @property
    def open(self) -> bool:
        """True when no token is configured (every caller is ``anonymous``)."""
        return not self._clients

    @property
    def clients(self) -> list[str]:
        return sorted(set(self._clients.values()))

    def client_of(self, authorization: str | None) -> str:
        """The client named by an ``Authorization`` header; 401 without a known bearer token."""
        if self.open:
            return ANONYMOUS
        if not authorization:
            raise RequestRefusedError(
                401, "this service needs an API token: send 'Authorization: Bearer <token>'"
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise RequestRefusedError(401, "the Authorization header must be 'Bearer <token>'")
        client = self._clients.get(_digest(token.strip()))
        if client is None:
            raise RequestRefusedError(401, "unknown API token")
        return client


def _parse_entry(entry: str, source: str) -> tuple[str, str]:
    client, separator, token = entry.partition(":")
    client, token = client.strip(), token.strip()
    if not separator or not _CLIENT_NAME.fullmatch(client):
        raise TokenConfigError(
            f"{source}: expected entries 'client-name:token' (name of letters, digits, '_', '.', '-'), "
            f"got {client!r}"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenConfigError(
            f"{source}: the token of {client!r} has {len(token)} characters, at least {MIN_TOKEN_LENGTH} "
            "are needed (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return client, token


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
