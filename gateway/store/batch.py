"""Group commit for inserts: rows from many concurrent requests go to the database in one transaction.

Each caller awaits its own rows' commit, so a 202 still means "durably queued"; under load, N submits
cost one transaction instead of N. A batch that fails is retried one submission at a time, so one bad
row (e.g. a reused idempotency key) fails only its own request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.db import write_tx

Rows = Sequence[tuple[Table, list[dict[str, Any]]]]


async def insert_rows(conn: AsyncConnection, rows: Rows) -> None:
    """Insert per table, in the order the tables first appear (callers list them in foreign-key order)."""
    merged: dict[Table, list[dict[str, Any]]] = {}
    for table, items in rows:
        merged.setdefault(table, []).extend(items)
    for table, items in merged.items():
        if items:
            await conn.execute(insert(table), items)


class InsertBatcher:
    """Collects :meth:`insert` calls while a transaction runs and commits them together next."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 500) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Rows, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="insert-batcher")

    async def stop(self) -> None:
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def insert(self, rows: Rows) -> None:
        """Insert ``rows`` and return once they are committed (raises what the database raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((rows, done))
        await asyncio.shield(done)

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[tuple[Rows, asyncio.Future[None]]]) -> None:
        try:
            async with write_tx(self._engine) as conn:
                await insert_rows(conn, [pair for rows, _ in batch for pair in rows])
        except Exception as exc:
            if len(batch) > 1:
                for item in batch:
                    await self._commit([item])
                return
            _, done = batch[0]
            if not done.done():
                done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)
