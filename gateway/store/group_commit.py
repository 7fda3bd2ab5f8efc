"""Group commit: items from many concurrent callers share one transaction.

Callers hand an item to :meth:`GroupCommit.commit` and await it; one task drains whatever queued up
while the previous transaction ran and applies it all in the next one, so N concurrent callers cost one
commit instead of N, and each still returns only once its own item is on disk. A batch that fails is
retried one item at a time, so one bad item fails only its own caller.

The transaction body (:meth:`GroupCommit.apply`) is plain synchronous SQLAlchemy on a ``Connection``,
written once for both databases, and the whole transaction runs in one thread hop on a blocking twin
engine (:func:`gateway.store.db.blocking_twin`). Measured here at concurrency 1: on SQLite ~1.2 ms per
commit instead of ~3.2 ms through aiosqlite's hop per statement; on PostgreSQL ~2.3-2.8 ms instead of
~3.3-4.8 ms through the async driver (``bench/README.md``). SQLite transactions still queue behind this
process's other SQLite writers (:func:`gateway.store.db.write_lock`).

Both users live in the store: :class:`gateway.store.job_writer.JobWriter` (the runner's step and job
writes) and :class:`gateway.store.batch.InsertBatcher` (new jobs from the API).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.db import blocking_twin, write_lock

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")
OutT = TypeVar("OutT")


@dataclass(slots=True)
class _Queued(Generic[ItemT, OutT]):
    item: ItemT
    done: asyncio.Future[OutT] | None  # None: nobody waits (see GroupCommit.submit)


class GroupCommit(ABC, Generic[ItemT, OutT]):
    """One drain loop committing queued items in shared transactions; subclasses say how to apply them.

    Override :meth:`apply` (inside the transaction, synchronous, no event-loop state) and, when the batch
    needs work in the event loop around the transaction, :meth:`prepare`, :meth:`committed` and
    :meth:`abandoned`.
    """

    def __init__(self, engine: AsyncEngine, *, name: str, max_batch: int, lazy_seconds: float = 0.05) -> None:
        self._engine = engine
        self._name = name
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Queued[ItemT, OutT]] = asyncio.Queue()
        # Items nobody waits for ride along with the next transaction, or go on their own after
        # ``lazy_seconds`` when none comes: never a commit of their own on a caller's critical path.
        self._lazy: list[_Queued[ItemT, OutT]] = []
        self._lazy_seconds = lazy_seconds
        self._lazy_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._sync = blocking_twin(engine)
        self._sqlite = engine.dialect.name == "sqlite"
        self.transactions = 0  # committed transactions (for tests and the bench)
        self.items = 0  # items committed in them

    # --- to override ---------------------------------------------------------------------------------

    @abstractmethod
    def apply(self, conn: Connection, items: list[ItemT]) -> list[OutT]:
        """Write ``items`` on ``conn`` (inside the transaction); one result per item, in order."""

    def prepare(self, items: list[ItemT]) -> list[ItemT]:
        """In the event loop, just before the transaction: the items to apply (possibly rewritten)."""
        return items

    def committed(self, items: list[ItemT], outs: list[OutT]) -> None:
        """In the event loop, after the transaction of these (prepared) items committed."""

    def abandoned(self, items: list[ItemT]) -> None:
        """In the event loop, after the transaction of these (prepared) items failed."""

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        self._flush_lazy()
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._sync.dispose()

    # --- callers -------------------------------------------------------------------------------------

    async def commit(self, item: ItemT) -> OutT:
        """Queue ``item`` and return its result once committed (raises what the database raised)."""
        done: asyncio.Future[OutT] = asyncio.get_running_loop().create_future()
        self._flush_lazy()  # items submitted earlier go first
        self._queue.put_nowait(_Queued(item, done))
        return await asyncio.shield(done)

    def submit(self, item: ItemT) -> None:
        """Queue ``item`` without waiting for it (progress a crash may lose): it rides along with the next
        transaction, or is committed within ``lazy_seconds`` when none comes."""
        self._lazy.append(_Queued(item, None))
        if self._lazy_timer is None:
            self._lazy_timer = asyncio.get_running_loop().call_later(self._lazy_seconds, self._flush_lazy)

    # --- the drain loop ------------------------------------------------------------------------------

    def _flush_lazy(self) -> None:
        if self._lazy_timer is not None:
            self._lazy_timer.cancel()
            self._lazy_timer = None
        lazy, self._lazy = self._lazy, []
        for queued in lazy:
            self._queue.put_nowait(queued)

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._flush_lazy()  # whatever waits for a ride joins this transaction
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_batch(self, batch: list[_Queued[ItemT, OutT]]) -> None:
        try:
            outs = await self._transaction([queued.item for queued in batch])
        except Exception as exc:
            if len(batch) > 1:  # isolate the bad item: the others still commit
                for queued in batch:
                    await self._commit_batch([queued])
                return
            done = batch[0].done
            if done is None:
                log.exception("%s: a write nobody waits for failed", self._name)
            elif not done.done():
                done.set_exception(exc)
            return
        for queued, out in zip(batch, outs, strict=True):
            if queued.done is not None and not queued.done.done():
                queued.done.set_result(out)

    async def _transaction(self, items: list[ItemT]) -> list[OutT]:
        prepared = self.prepare(items)
        try:
            turn = write_lock(self._engine) if self._sqlite else contextlib.nullcontext()
            async with turn:
                outs = await asyncio.to_thread(self._sync_transaction, prepared)
        except BaseException:
            self.abandoned(prepared)
            raise
        self.transactions += 1
        self.items += len(prepared)
        self.committed(prepared, outs)
        return outs

    def _sync_transaction(self, items: list[ItemT]) -> list[OutT]:
        with self._sync.begin() as conn:
            return self.apply(conn, items)
