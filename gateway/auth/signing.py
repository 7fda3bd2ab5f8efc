"""Signed, expiring file URLs for ``<img>``, ``<audio>`` and shared links, which cannot send headers.

``/v1/files/{id}?expires=<unix seconds>&signature=<HMAC-SHA256(file id + expiry), URL-safe base64>``.
``MODALINE_SIGNING_KEY`` holds one key or two comma-separated: the first signs, both verify, so a key can
be rotated without breaking links already handed out. The signer is only asked after the access check,
so a URL is only ever made for someone allowed to see the file; an object store's presigned URLs can
take its place behind the same two calls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from typing import Literal

Verdict = Literal["ok", "expired", "bad"]

#: Expiry is rounded up to this many seconds, so the same file keeps one URL for a while (cacheable).
_ROUND_SECONDS = 300


class UrlSigner:
    """Signs and verifies file URLs with the configured keys."""

    def __init__(self, keys: list[bytes], *, ttl_seconds: int) -> None:
        if not keys:
            raise ValueError("a URL signer needs at least one key")
        self._keys = keys
        self._ttl = ttl_seconds

    @classmethod
    def from_setting(cls, value: str | None, *, ttl_seconds: int) -> UrlSigner:
        """Keys from ``MODALINE_SIGNING_KEY``; a random per-process key when unset (auth off only)."""
        keys = [part.strip().encode() for part in (value or "").split(",") if part.strip()]
        return cls(keys or [secrets.token_bytes(32)], ttl_seconds=ttl_seconds)

    def _signature(self, key: bytes, file_id: str, expires: int) -> str:
        digest = hmac.new(key, f"{file_id}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url(self, file_id: str, *, now: float | None = None) -> str:
        """The signed download URL of a file, valid for at least the configured time."""
        now = time.time() if now is None else now
        expires = math.ceil((now + self._ttl) / _ROUND_SECONDS) * _ROUND_SECONDS
        return f"/v1/files/{file_id}?expires={expires}&signature={self._signature(self._keys[0], file_id, expires)}"

    def verify(self, file_id: str, expires: int, signature: str, *, now: float | None = None) -> Verdict:
        """Whether ``signature`` was made by one of the keys for this file and expiry, and is still valid."""
        matches = any(
            hmac.compare_digest(self._signature(key, file_id, expires), signature) for key in self._keys
        )
        if not matches:
            return "bad"
        return "ok" if (time.time() if now is None else now) < expires else "expired"
