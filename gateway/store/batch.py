"""Group commit for inserts: rows from many concurrent requests go to the database in one transaction.

Each caller awaits its own rows' commit, so a 202 still means "durably queued"; under load, N submits
cost one transaction instead of N. A batch that fails is retried one submission at a time, so one bad
row (e.g. a reused idempotency key) fails only its own request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.db import sync_sqlite_engine, write_lock, write_tx
from gateway.store.models import Job, JobEvent, utcnow

Rows = Sequence[tuple[Table, list[dict[str, Any]]]]

JOBS = Job.__table__  # type: ignore[attr-defined]
EVENTS = JobEvent.__table__  # type: ignore[attr-defined]


class Handoff(Protocol):
    """An in-process runner that takes new jobs straight from the submit transaction (no claim round trip).

    The batcher inserts the jobs it reserved already claimed under the runner's lease (``status=running``,
    ``lease_owner``, ``lease_expires_at``, plus a ``job.running`` event) and calls :meth:`adopt` once they
    are committed. A job handed over and then lost in a crash is taken over when its lease expires, like
    any claimed job.
    """

    owner: str
    lease_seconds: float

    def reserve(self, n: int) -> int:
        """How many of ``n`` new jobs the runner takes now; it holds that many slots until :meth:`adopt`."""
        ...

    def adopt(self, jobs: list[dict[str, Any]], reserved: int, *, left_queued: bool) -> None:
        """Start the committed claimed ``jobs`` rows, free ``reserved`` slots; wake it if some stayed queued."""
        ...


def _merged(rows: Rows) -> dict[Table, list[dict[str, Any]]]:
    merged: dict[Table, list[dict[str, Any]]] = {}
    for table, items in rows:
        merged.setdefault(table, []).extend(items)
    return merged


async def insert_rows(conn: AsyncConnection, rows: Rows) -> None:
    """Insert per table, in the order the tables first appear (callers list them in foreign-key order)."""
    for table, items in _merged(rows).items():
        if items:
            await conn.execute(insert(table), items)


def _insert_rows_sync(conn: Connection, rows: Rows) -> None:
    for table, items in _merged(rows).items():
        if items:
            conn.execute(insert(table), items)


class InsertBatcher:
    """Collects :meth:`insert` calls while a transaction runs and commits them together next."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 500) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Rows, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.handoff: Handoff | None = None
        # SQLite: the whole transaction in one thread hop on a blocking twin engine (as the runner's
        # GroupWriter does), instead of one aiosqlite hop per statement.
        self._sync = sync_sqlite_engine(engine) if engine.dialect.name == "sqlite" else None

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
        if self._sync is not None:
            self._sync.dispose()

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

    def _insert_sync(self, rows: Rows) -> None:
        assert self._sync is not None
        with self._sync.begin() as conn:
            _insert_rows_sync(conn, rows)

    def _hand_over(
        self, rows: list[tuple[Table, list[dict[str, Any]]]]
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """Rewrite ``rows`` in place so the new jobs the runner reserves are inserted already claimed."""
        handoff = self.handoff
        new = [row for table, items in rows if table is JOBS for row in items if row["status"] == "queued"]
        if handoff is None or not new:
            return [], 0, False
        reserved = handoff.reserve(len(new))
        if not reserved:
            return [], 0, True
        now = utcnow()
        lease = {
            "status": "running",
            "lease_owner": handoff.owner,
            "lease_expires_at": now + timedelta(seconds=handoff.lease_seconds),
            "started_at": now,
            "updated_at": now,
        }
        taken = {row["id"]: {**row, **lease} for row in new[:reserved]}  # copies: callers keep "queued"
        unclaimed = {"lease_owner": None, "lease_expires_at": None, "started_at": None}
        for i, (table, items) in enumerate(rows):
            if table is JOBS:  # one key set for the executemany
                rows[i] = (table, [taken.get(row["id"]) or {**row, **unclaimed} for row in items])
        detail = f"claimed by runner {handoff.owner}"
        running = [
            {"job_id": job_id, "type": "job.running", "status": "running", "detail": detail, "at": now}
            for job_id in taken
        ]
        for i, (table, items) in enumerate(rows):
            if table is EVENTS:  # one key set for the executemany (a missing key would be dropped)
                rows[i] = (table, [{"detail": None, **row} for row in items])
        rows.append((EVENTS, running))  # after every job.queued event of the batch
        return list(taken.values()), reserved, reserved < len(new)

    async def _commit(self, batch: list[tuple[Rows, asyncio.Future[None]]]) -> None:
        rows = [pair for submitted, _ in batch for pair in submitted]
        taken, reserved, left_queued = self._hand_over(rows)
        try:
            if self._sync is not None:
                async with write_lock(self._engine):
                    await asyncio.to_thread(self._insert_sync, rows)
            else:
                async with write_tx(self._engine) as conn:
                    await insert_rows(conn, rows)
        except Exception as exc:
            if self.handoff is not None and reserved:
                self.handoff.adopt([], reserved, left_queued=False)
            if len(batch) > 1:
                for item in batch:
                    await self._commit([item])
                return
            _, done = batch[0]
            if not done.done():
                done.set_exception(exc)
            return
        if self.handoff is not None and (reserved or left_queued):
            self.handoff.adopt(taken, reserved, left_queued=left_queued)
        for _, done in batch:
            if not done.done():
                done.set_result(None)
