"""The database engine: created by the app's lifespan (never at import), tuned per backend."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

#: How long a SQLite writer waits for the lock before failing (ms).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; synchronous=NORMAL in WAL mode is still durable
    # against a process crash (kill -9), which is the failure the runner must survive.
    # busy_timeout first: switching to WAL needs a lock too, and must wait for it like any writer.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite`` or ``postgresql+psycopg``; makes the SQLite directory."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


_WRITE_LOCKS: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def write_tx(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction. On SQLite, writers of this process queue up on one asyncio lock first.

    SQLite admits one writer at a time and its busy handler is not fair: under a burst, a connection
    can sleep-and-retry past the busy timeout while others keep winning. Queuing in asyncio (FIFO) makes
    every writer wait its turn instead, and spares the thread hops of failed lock attempts.
    """
    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            yield conn
        return
    async with write_lock(engine), engine.begin() as conn:
        yield conn


def write_lock(engine: AsyncEngine) -> asyncio.Lock:
    """The FIFO lock every SQLite writer of this process takes (see :func:`write_tx`)."""
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        lock = _WRITE_LOCKS[engine] = asyncio.Lock()
    return lock


def blocking_twin(engine: AsyncEngine) -> Engine:
    """A blocking twin of an engine (same database, same settings), for whole transactions in one thread hop.

    The group-commit engine runs one transaction at a time, so one pooled connection serves it.
    """
    if engine.dialect.name == "sqlite":
        twin = sa_create_engine(engine.url.set(drivername="sqlite"), pool_size=1, max_overflow=2)
        event.listen(twin, "connect", _sqlite_pragmas)
        return twin
    return sa_create_engine(engine.url, pool_size=1, max_overflow=2, pool_pre_ping=True)
