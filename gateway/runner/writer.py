"""Group commit: many jobs' step writes go to the database in one transaction.

Every job submits a small :class:`Write` (step rows, events, output files, maybe the job's final row) and,
when it must be durable before going on, awaits it. One writer task drains whatever has queued up while the
previous transaction ran and commits it all at once, so N concurrent jobs cost one commit rather than N,
and each job still continues only after its own write is on disk.

Each transaction first re-asserts this runner's lease on the jobs it touches (one UPDATE … RETURNING id,
which also locks those rows on PostgreSQL); writes for jobs whose lease was taken over are dropped, so a
runner that lost a job can never overwrite the new owner's progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.db import sync_sqlite_engine, write_lock, write_tx
from gateway.store.models import FileRecord, Job, JobEvent, Step, utcnow
from gateway.store.queue import lock_in_id_order

log = logging.getLogger(__name__)

JOBS = Job.__table__  # type: ignore[attr-defined]
STEPS = Step.__table__  # type: ignore[attr-defined]
EVENTS = JobEvent.__table__  # type: ignore[attr-defined]
FILES = FileRecord.__table__  # type: ignore[attr-defined]

_STEP_UPDATE = update(STEPS).where(
    STEPS.c.job_id == bindparam("k_job"), STEPS.c.step_id == bindparam("k_step")
)
_JOB_UPDATE = update(JOBS).where(JOBS.c.id == bindparam("k_job"))


@dataclass(slots=True)
class Write:
    """Everything one job wants written at one moment; ``job`` is a full update of its jobs row."""

    job_id: str
    steps: list[dict[str, Any]] = field(default_factory=list)  # keys: k_step + the steps columns to set
    events: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    job: dict[str, Any] | None = None


@dataclass(slots=True)
class _Pending:
    write: Write
    done: asyncio.Future[bool] | None


class GroupWriter:
    """Batches :class:`Write` objects from many jobs into few transactions (see the module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owner: str,
        max_batch: int = 2_000,
        on_commit: Callable[[Iterable[str]], None] | None = None,
        lazy_seconds: float = 0.05,
    ) -> None:
        self._engine = engine
        self._owner = owner
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        # Writes nobody waits for (step.running marks): they ride along with the next transaction, or
        # go on their own after ``lazy_seconds`` — never a commit of their own on a job's critical path.
        self._lazy: list[_Pending] = []
        self._lazy_seconds = lazy_seconds
        self._lazy_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._upsert_file = self._file_upsert(engine.dialect.name)
        self._sync = sync_sqlite_engine(engine) if engine.dialect.name == "sqlite" else None
        self._fence_stmt = self._fence()
        self.transactions = 0
        self.writes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="group-writer")

    async def stop(self) -> None:
        """Flush what is queued, then stop."""
        if self._task is None:
            return
        self._flush_lazy()
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._sync is not None:
            self._sync.dispose()

    def submit(self, write: Write) -> None:
        """Queue a write without waiting for it (for progress that a crash may lose, e.g. step.running).

        It is committed with the next transaction, or within ``lazy_seconds`` when none comes: at
        concurrency 1 a step.running mark then rides along with the step's own result instead of
        costing a commit that the result would have to wait for.
        """
        self._lazy.append(_Pending(write, None))
        if self._lazy_timer is None:
            self._lazy_timer = asyncio.get_running_loop().call_later(self._lazy_seconds, self._flush_lazy)

    async def write(self, write: Write) -> bool:
        """Queue a write and wait until it is committed; False when the lease was lost and it was dropped."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._flush_lazy()  # earlier writes of the same job go first
        self._queue.put_nowait(_Pending(write, done))
        return await asyncio.shield(done)

    def _flush_lazy(self) -> None:
        if self._lazy_timer is not None:
            self._lazy_timer.cancel()
            self._lazy_timer = None
        lazy, self._lazy = self._lazy, []
        for pending in lazy:
            self._queue.put_nowait(pending)

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._flush_lazy()  # whatever waits for a ride joins this transaction
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        try:
            owned = await self._transaction([p.write for p in batch])
        except Exception:
            if len(batch) == 1:
                log.exception("write for job %s failed", batch[0].write.job_id)
                _settle(batch, owned=None, error=True)
                return
            # Isolate the bad write: retry one by one so the others still commit.
            for pending in batch:
                await self._commit_batch([pending])
            return
        _settle(batch, owned=owned, error=False)
        if self._on_commit:
            self._on_commit(owned)

    async def _transaction(self, writes: list[Write]) -> set[str]:
        job_ids = sorted({w.job_id for w in writes})
        if self._sync is not None:
            # SQLite: run the whole transaction in one thread hop (aiosqlite would take one per statement,
            # ~3x slower per commit), still queued behind this process's other SQLite writers.
            async with write_lock(self._engine):
                owned = await asyncio.to_thread(self._sync_transaction, writes, job_ids)
        else:
            async with write_tx(self._engine) as conn:
                fence = await conn.execute(self._fence_stmt, {"fence_ids": job_ids, "fence_at": utcnow()})
                owned = {row.id for row in fence}
                for stmt, params in self._statements([w for w in writes if w.job_id in owned]):
                    await conn.execute(stmt, params)
        self.transactions += 1
        self.writes += len(writes)
        return owned

    def _sync_transaction(self, writes: list[Write], job_ids: list[str]) -> set[str]:
        assert self._sync is not None
        with self._sync.begin() as conn:
            fence = conn.execute(self._fence_stmt, {"fence_ids": job_ids, "fence_at": utcnow()})
            owned = {row.id for row in fence}
            for stmt, params in self._statements([w for w in writes if w.job_id in owned]):
                conn.execute(stmt, params)
        return owned

    def _fence(self) -> Any:
        """Built once per writer (the owner is fixed; ids and time are parameters)."""
        # Lock in id order (like renew_leases) so the heartbeat and this writer can never deadlock.
        ids: Any = bindparam("fence_ids", expanding=True)
        mine = lock_in_id_order(
            select(JOBS.c.id).where(JOBS.c.id.in_(ids), JOBS.c.lease_owner == self._owner),
            self._engine.dialect.name,
        )
        return (
            update(JOBS)
            .where(JOBS.c.id.in_(mine))
            .values(updated_at=bindparam("fence_at"))
            .returning(JOBS.c.id)
        )

    def _statements(self, writes: list[Write]) -> list[tuple[Any, list[dict[str, Any]]]]:
        """The statements (each with its executemany rows) that apply ``writes``, in a safe order."""
        out: list[tuple[Any, list[dict[str, Any]]]] = []
        files = [f for w in writes for f in w.files]
        if files:
            out.append((self._upsert_file, files))
        steps = [{"k_job": w.job_id, **s} for w in writes for s in w.steps]
        out += [(_STEP_UPDATE, group) for group in _same_keys(steps)]
        jobs = [{"k_job": w.job_id, **w.job} for w in writes if w.job is not None]
        out += [(_JOB_UPDATE, group) for group in _same_keys(jobs)]
        events = [_event_row({"job_id": w.job_id, **e}) for w in writes for e in w.events]
        if events:
            out.append((insert(EVENTS), events))
        return out

    @staticmethod
    def _file_upsert(dialect: str) -> Any:
        # A step re-run after a takeover writes the same path again: keep one row, with the newest content.
        module: Any = postgresql if dialect == "postgresql" else sqlite
        stmt = module.insert(FILES)
        return stmt.on_conflict_do_update(
            index_elements=["path"],
            set_={
                c: stmt.excluded[c] for c in ("content_type", "kind", "bytes", "sha256", "job_id", "step_id")
            },
        )


_EVENT_KEYS = ("job_id", "type", "step_id", "status", "attempt", "detail", "at")


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    return {key: event.get(key) for key in _EVENT_KEYS}


def _same_keys(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split rows into runs sharing one key set (executemany needs one shape), keeping their order."""
    groups: list[list[dict[str, Any]]] = []
    for row in rows:
        if groups and groups[-1][0].keys() == row.keys():
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _settle(batch: list[_Pending], *, owned: set[str] | None, error: bool) -> None:
    for pending in batch:
        if pending.done is None or pending.done.done():
            continue
        if error:
            pending.done.set_exception(RuntimeError(f"could not persist job {pending.write.job_id}"))
        else:
            pending.done.set_result(owned is not None and pending.write.job_id in owned)
