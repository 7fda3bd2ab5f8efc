"""PostgreSQL ``LISTEN modaline_events`` on a connection of its own, reconnecting after a loss."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL

from gateway.store.events import EVENTS_CHANNEL

log = logging.getLogger(__name__)


def libpq_dsn(url: URL) -> str:
    """The SQLAlchemy ``postgresql+psycopg://`` URL as a plain libpq connection string."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """Calls ``on_notify`` for every notification on the events channel, and ``on_connect`` after each
    (re)connection (notifications sent while it was away are lost: the caller reads once to catch up)."""

    def __init__(
        self,
        dsn: str,
        *,
        on_notify: Callable[[], None],
        on_connect: Callable[[], None],
        retry_seconds: float = 1.0,
    ) -> None:
        self._dsn = dsn
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._retry = retry_seconds
        self.connected = False
        self.notifications = 0  # received so far (for tests and the bench)
        self.connects = 0

    async def run(self) -> None:
        """Listen until cancelled."""
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection, a restart of the server: try again
                log.warning(
                    "event hub: LISTEN %s lost (%s); reconnecting in %.1f s", EVENTS_CHANNEL, exc, self._retry
                )
            finally:
                self.connected = False
            await asyncio.sleep(self._retry)

    async def _listen(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        async with conn:
            await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            self.connected = True
            self.connects += 1
            self._on_connect()
            async for _ in conn.notifies():
                self.notifications += 1
                self._on_notify()
