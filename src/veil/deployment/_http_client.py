"""A small client for ``veil serve``, on the standard library's HTTP client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from ..errors import ServiceError


class ServiceClient:
    """Talk to a running ``veil serve``.

    Parameters
    ----------
    url : str
        Base URL of the service, e.g. ``"http://127.0.0.1:8000"``.
    timeout : float
        Seconds to wait for one answer (encrypted inference of many rows can take a while).
    token : str, optional
        The API token the service gave this client (sent as ``Authorization: Bearer <token>``).
    """

    def __init__(self, url: str, timeout: float = 600.0, token: str | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def info(self) -> dict:
        """The served model's id, expected key size and request limits."""
        return json.loads(self._request("GET", "/info"))

    def health(self) -> dict:
        """Whether the service has evaluation workers running."""
        return json.loads(self._request("GET", "/health"))

    def list_keys(self) -> dict:
        """This client's stored key ids (with their sizes) and the bytes they take."""
        return json.loads(self._request("GET", "/keys"))

    def upload_evaluation_keys(self, serialized_evaluation_keys) -> str:
        """Send evaluation keys (bytes, or an iterable of byte chunks to stream them); returns the key id.

        The service answers once it has checked them by running an encrypted zero row through them.
        """
        return json.loads(self._request("POST", "/keys", serialized_evaluation_keys))["key_id"]

    def run(self, key_id: str, serialized_encrypted_input: bytes) -> bytes:
        """Run encrypted inference on the rows of one message; returns the encrypted results."""
        # The header routes the request to a replica already holding these keys when served on Ray.
        headers = {"serve_multiplexed_model_id": key_id}
        return self._request("POST", f"/predict/{key_id}", serialized_encrypted_input, headers)

    def delete_evaluation_keys(self, key_id: str) -> None:
        self._request("DELETE", f"/keys/{key_id}")

    def _request(self, method: str, path: str, body=None, headers: dict | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        if body is not None:
            request.add_header("Content-Type", "application/octet-stream")
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                detail = json.loads(raw)["detail"]
            except (ValueError, KeyError, TypeError):
                detail = raw.decode("utf-8", "replace")
            raise ServiceError(error.code, str(detail)) from None
