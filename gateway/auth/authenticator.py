"""Bearer key → :class:`Principal`, with a short cache so a key check costs no query on most requests.

A replica remembers a key's row for ``cache_seconds`` (default 2 s): that bounds how long a revoked key
keeps working on another replica; in the replica that revoked it, it stops at once. ``last_used_at`` is
written at most once a minute per key, off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import OrderedDict
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.auth.keys import hash_secret, looks_like_key
from gateway.auth.principal import ANONYMOUS, Principal
from gateway.errors import UnauthorizedError
from gateway.store import tenants as store
from gateway.store.models import utcnow
from gateway.store.tenants import KeyRecord

log = logging.getLogger(__name__)

_CACHE_SIZE = 10_000
_TOUCH_EVERY_SECONDS = 60.0


class Authenticator:
    """Checks API keys (``mode="keys"``) or lets every request in as the default tenant (``"off"``)."""

    def __init__(
        self, engine: AsyncEngine, *, mode: Literal["keys", "off"], cache_seconds: float = 2.0
    ) -> None:
        self._engine = engine
        self.mode = mode
        self._cache_seconds = cache_seconds
        self._cache: OrderedDict[str, tuple[KeyRecord | None, float]] = OrderedDict()
        self._touched: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def principal(self, token: str | None) -> Principal:
        """The principal for a bearer ``token``; :class:`UnauthorizedError` saying what is wrong."""
        if self.mode == "off":
            return ANONYMOUS
        if not token:
            raise UnauthorizedError("this request needs an API key: send 'Authorization: Bearer mdl_…'")
        if not looks_like_key(token):
            raise UnauthorizedError("the bearer token is not a Modaline API key (they start with 'mdl_')")
        secret_hash = hash_secret(token)
        record = await self._record(secret_hash)
        if record is None or not hmac.compare_digest(record.secret_hash, secret_hash):
            raise UnauthorizedError("unknown API key")
        if record.revoked_at is not None:
            raise UnauthorizedError(f"API key {record.prefix}… was revoked")
        if record.expires_at is not None and record.expires_at <= utcnow():
            raise UnauthorizedError(f"API key {record.prefix}… expired")
        self._touch(record.id)
        return Principal(record.tenant_id, record.id, frozenset(record.scopes), record.operator)

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (after it was revoked here)."""
        for secret_hash, (record, _) in list(self._cache.items()):
            if record is not None and record.id == key_id:
                del self._cache[secret_hash]

    async def close(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _record(self, secret_hash: str) -> KeyRecord | None:
        now = time.monotonic()
        cached = self._cache.get(secret_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await store.key_by_hash(self._engine, secret_hash=secret_hash)
        self._cache[secret_hash] = (record, now + self._cache_seconds)
        self._cache.move_to_end(secret_hash)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return record

    def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._touched.get(key_id, -_TOUCH_EVERY_SECONDS) < _TOUCH_EVERY_SECONDS:
            return
        self._touched[key_id] = now
        task = asyncio.get_running_loop().create_task(self._write_touch(key_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_touch(self, key_id: str) -> None:
        with contextlib.suppress(Exception):
            await store.touch_keys(self._engine, key_ids=[key_id], at=utcnow())
