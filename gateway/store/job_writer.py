"""The runner's writes: many jobs' step results, events, output files and final rows in one transaction.

Every job hands the :class:`JobWriter` a small :class:`Write` and, when it must be durable before going
on, awaits it (group commit, see ``group_commit.py``). Each transaction first re-asserts this runner's
lease on the jobs it touches (one ``UPDATE … RETURNING id``, which also locks those rows on PostgreSQL);
writes for jobs whose lease was taken over are dropped, so a runner that lost a job can never overwrite
the new owner's progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.events import announce_sync
from gateway.store.group_commit import GroupCommit
from gateway.store.models import EVENTS, FILES, JOBS, STEPS, utcnow
from gateway.store.queue import lock_in_id_order
from gateway.store.rows import EventRow, FileRow, NewStepRow, StepRow, TerminalJobRow

_STEP_UPDATE = update(STEPS).where(
    STEPS.c.job_id == bindparam("k_job"), STEPS.c.step_id == bindparam("k_step")
)
_JOB_UPDATE = update(JOBS).where(JOBS.c.id == bindparam("k_job"))
_EVENT_INSERT = insert(EVENTS)
_DELTA_DELETE = delete(EVENTS).where(
    EVENTS.c.job_id == bindparam("d_job"),
    EVENTS.c.step_id == bindparam("d_step"),
    EVENTS.c.type == "step.delta",
)
_EVENT_DEFAULTS = {"step_id": None, "status": None, "attempt": None, "detail": None}


@dataclass(slots=True)
class Write:
    """Everything one job wants written at one moment; ``job`` is its final row when it ends."""

    job_id: str
    tenant_id: str = field(kw_only=True)  # the job's, given to its events
    steps: list[StepRow] = field(default_factory=list)
    new_steps: list[NewStepRow] = field(default_factory=list)  # map items' rows, made when the map starts
    events: list[EventRow] = field(default_factory=list)
    files: list[FileRow] = field(default_factory=list)
    job: TerminalJobRow | None = None
    #: Steps whose ``step.delta`` events are deleted (after this write's events are inserted): a streamed
    #: step's pieces go once its terminal event, in the same write, carries the outcome.
    clear_deltas: list[str] = field(default_factory=list)

    def extend(self, other: Write) -> None:
        """Add ``other``'s rows (of the same job) after this one's."""
        assert other.job_id == self.job_id
        self.steps += other.steps
        self.new_steps += other.new_steps
        self.events += other.events
        self.files += other.files
        self.clear_deltas += other.clear_deltas


class JobWriter(GroupCommit[Write, bool]):
    """Group-commits :class:`Write` objects of one runner's jobs; a write's result is False when the
    runner no longer holds that job's lease and the write was dropped."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owner: str,
        max_batch: int = 2_000,
        on_commit: Callable[[Iterable[str]], None] | None = None,
        lazy_seconds: float = 0.05,
    ) -> None:
        super().__init__(engine, name="job-writer", max_batch=max_batch, lazy_seconds=lazy_seconds)
        self._on_commit = on_commit
        self._fence = _fence_statement(owner, engine.dialect.name)
        self._upsert_file = _file_upsert(engine.dialect.name)
        self._insert_step = _step_insert(engine.dialect.name)

    async def write(self, write: Write) -> bool:
        """Commit ``write``; False when the lease was lost and it was dropped."""
        return await self.commit(write)

    def apply(self, conn: Connection, items: list[Write]) -> list[bool]:
        job_ids = sorted({w.job_id for w in items})
        owned = {row.id for row in conn.execute(self._fence, {"fence_ids": job_ids, "fence_at": utcnow()})}
        for stmt, params in self._statements([w for w in items if w.job_id in owned]):
            conn.execute(stmt, params)
            if stmt is _EVENT_INSERT:
                announce_sync(conn)  # one NOTIFY for the whole transaction
        return [w.job_id in owned for w in items]

    def committed(self, items: list[Write], outs: list[bool]) -> None:
        if self._on_commit is not None:
            self._on_commit({w.job_id for w, kept in zip(items, outs, strict=True) if kept})

    def _statements(self, writes: list[Write]) -> list[tuple[Any, list[dict[str, Any]]]]:
        """The statements (each with its executemany rows) that apply ``writes``, in a safe order."""
        out: list[tuple[Any, list[dict[str, Any]]]] = []
        files = [dict(f) for w in writes for f in w.files]
        if files:
            out.append((self._upsert_file, files))
        new_steps = [{**s, "job_id": w.job_id} for w in writes for s in w.new_steps]
        if new_steps:
            out.append((self._insert_step, new_steps))
        steps = [_step_params(w.job_id, s) for w in writes for s in w.steps]
        if steps:
            out.append((_STEP_UPDATE, steps))
        jobs = [{"k_job": w.job_id, **w.job} for w in writes if w.job is not None]
        if jobs:
            out.append((_JOB_UPDATE, jobs))
        events = [_event_params(w.job_id, w.tenant_id, e) for w in writes for e in w.events]
        if events:
            out.append((_EVENT_INSERT, events))
        # After the inserts: deltas that ride in this very transaction go too. The terminal event inserted
        # with them has a higher seq than every delta it replaces, so the largest seq never goes away.
        deltas = [{"d_job": w.job_id, "d_step": step} for w in writes for step in w.clear_deltas]
        if deltas:
            out.append((_DELTA_DELETE, deltas))
        return out


def _step_params(job_id: str, row: StepRow) -> dict[str, Any]:
    params: dict[str, Any] = dict(row)
    params["k_step"] = params.pop("step_id")
    params["k_job"] = job_id
    return params


def _event_params(job_id: str, tenant_id: str, event: EventRow) -> dict[str, Any]:
    # event_row() sets every column; a row built by hand without some still gets one key set.
    params: dict[str, Any] = {**_EVENT_DEFAULTS, **event}
    params["job_id"] = job_id
    params["tenant_id"] = tenant_id
    return params


def _fence_statement(owner: str, dialect: str) -> Any:
    """Re-assert the lease on a batch's jobs; built once per writer (ids and time are parameters)."""
    # Lock in id order (like renew_leases) so the heartbeat and this writer can never deadlock.
    ids: Any = bindparam("fence_ids", expanding=True)
    mine = lock_in_id_order(select(JOBS.c.id).where(JOBS.c.id.in_(ids), JOBS.c.lease_owner == owner), dialect)
    return (
        update(JOBS).where(JOBS.c.id.in_(mine)).values(updated_at=bindparam("fence_at")).returning(JOBS.c.id)
    )


def _file_upsert(dialect: str) -> Any:
    # A step re-run after a takeover writes the same path again: keep one row, with the newest content.
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(FILES)
    return stmt.on_conflict_do_update(
        index_elements=["path"],
        set_={c: stmt.excluded[c] for c in ("content_type", "kind", "bytes", "sha256", "job_id", "step_id")},
    )


def _step_insert(dialect: str) -> Any:
    # A map item's row may exist already (a runner resuming the job after a crash): keep it as it is.
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(STEPS).on_conflict_do_nothing(index_elements=["job_id", "step_id"])
