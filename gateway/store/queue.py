"""Runner-side statements: claim jobs under a lease, renew it, notice cancel requests, load step state.

All of these are SQLAlchemy Core on the hot path. Claiming differs per database:
- PostgreSQL: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``, so several
  runner processes claim disjoint batches without waiting on each other; the outer ``WHERE status = …``
  is re-checked on the locked row version, so a row changed since the snapshot is never double-claimed.
- SQLite: the same conditional UPDATE without the lock clause; SQLite runs one writer at a time, which
  makes the statement atomic on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, case, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.db import write_tx
from gateway.store.events import announce
from gateway.store.models import EVENTS, JOBS, STEPS, as_utc, utcnow
from gateway.store.rows import EventRow, event_row


@dataclass(slots=True)
class ClaimedJob:
    """A job this runner now holds the lease on, with the step rows it has so far (none when new)."""

    id: str
    tenant_id: str
    pipeline: str
    inputs: dict[str, Any]
    started_at: datetime
    steps: dict[str, Row[Any]] = field(default_factory=dict)  # step id → steps row
    traceparent: str | None = None  # the submitting request's span, when tracing was on
    resumed: bool = False  # taken over from a runner whose lease expired


def lease_values(*, owner: str, lease_seconds: float, now: datetime) -> dict[str, Any]:
    """The jobs columns that put a job under ``owner``'s lease (a claim, or a submit handed straight over)."""
    return {
        "status": "running",
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "updated_at": now,
    }


def claimed_event(*, owner: str, now: datetime, resumed: bool = False) -> EventRow:
    """The ``job.running`` event logged when a runner takes a job."""
    if resumed:
        detail = f"resumed by runner {owner} after the previous runner's lease expired"
    else:
        detail = f"claimed by runner {owner}"
    return event_row("job.running", now, status="running", detail=detail)


@dataclass(frozen=True, slots=True)
class RunningCaps:
    """How many jobs of one tenant may run at once: ``default`` unless ``per_tenant`` says otherwise;
    0 means no cap. Claims and the submit hand-off leave a tenant's jobs queued while it is at its cap."""

    default: int = 0
    per_tenant: Mapping[str, int] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.default > 0 or any(value > 0 for value in self.per_tenant.values())

    def cap(self, tenant_id: str) -> int:
        return self.per_tenant.get(tenant_id, self.default)

    def sql(self, tenant_column: Any) -> Any:
        """The cap as a SQL expression of a tenant id column."""
        if not self.per_tenant:
            return literal(self.default)
        return case(dict(self.per_tenant), value=tenant_column, else_=self.default)


NO_CAPS = RunningCaps()

#: Claims that count running jobs per tenant take this transaction lock on PostgreSQL, so two runners
#: claiming at once cannot both see room for the same tenant's last free slot.
_CLAIM_LOCK = 72616194


def _queued_within_caps(limit: int, caps: RunningCaps) -> Any:
    """Ids of the oldest queued jobs, at most ``limit``, skipping what would put a tenant over its cap:
    each tenant's queued jobs are ranked oldest first, and one is taken only while its rank plus the
    tenant's running jobs stays within the cap."""
    running = (
        select(JOBS.c.tenant_id, func.count().label("n"))
        .where(JOBS.c.status == "running")
        .group_by(JOBS.c.tenant_id)
        .subquery()
    )
    rank = func.row_number().over(partition_by=JOBS.c.tenant_id, order_by=(JOBS.c.created_at, JOBS.c.id))
    ranked = (
        select(JOBS.c.id, JOBS.c.tenant_id, JOBS.c.created_at, rank.label("rank"))
        .where(JOBS.c.status == "queued")
        .subquery()
    )
    cap = caps.sql(ranked.c.tenant_id)
    return (
        select(ranked.c.id)
        .select_from(ranked.outerjoin(running, running.c.tenant_id == ranked.c.tenant_id))
        .where(or_(cap <= 0, ranked.c.rank + func.coalesce(running.c.n, 0) <= cap))
        .order_by(ranked.c.created_at)
        .limit(limit)
    )


def lock_in_id_order(query: Any, dialect: str) -> Any:
    """On PostgreSQL, lock the selected job rows in id order: two statements of one runner that both
    lock many of its rows (lease renewal, the group writer's fence) then queue instead of deadlocking."""
    if dialect == "postgresql":
        return query.order_by(JOBS.c.id).with_for_update()
    return query


async def _claim(
    engine: AsyncEngine,
    *,
    owner: str,
    lease_seconds: float,
    limit: int,
    expired: bool,
    caps: RunningCaps = NO_CAPS,
) -> list[ClaimedJob]:
    now = utcnow()
    capped = not expired and caps.active  # a takeover moves a running job: the counts stay as they are
    if expired:
        cond = [JOBS.c.status == "running", JOBS.c.lease_expires_at < now]
    else:
        cond = [JOBS.c.status == "queued"]
    if capped:
        pick = select(JOBS.c.id).where(JOBS.c.id.in_(_queued_within_caps(limit, caps)))
    else:
        pick = select(JOBS.c.id).where(*cond).order_by(JOBS.c.created_at).limit(limit)
    if engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    claim = (
        update(JOBS)
        .where(JOBS.c.id.in_(pick), *cond)
        .values(
            **lease_values(owner=owner, lease_seconds=lease_seconds, now=now),
            started_at=JOBS.c.started_at if expired else now,
        )
        .returning(
            JOBS.c.id, JOBS.c.tenant_id, JOBS.c.pipeline, JOBS.c.inputs, JOBS.c.started_at, JOBS.c.traceparent
        )
    )
    running = claimed_event(owner=owner, now=now, resumed=expired)
    async with write_tx(engine) as conn:
        if capped and engine.dialect.name == "postgresql":
            await conn.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCK)))
        rows = (await conn.execute(claim)).all()
        if not rows:
            return []
        await conn.execute(
            insert(EVENTS), [{**running, "job_id": r.id, "tenant_id": r.tenant_id} for r in rows]
        )
        await announce(conn)
        steps = (await conn.execute(select(STEPS).where(STEPS.c.job_id.in_([r.id for r in rows])))).all()
    claimed = {
        r.id: ClaimedJob(
            r.id,
            r.tenant_id,
            r.pipeline,
            r.inputs,
            as_utc(r.started_at) or now,
            traceparent=r.traceparent,
            resumed=expired,
        )
        for r in rows
    }
    for step in steps:
        claimed[step.job_id].steps[step.step_id] = step
    return list(claimed.values())


async def claim_queued(
    engine: AsyncEngine, *, owner: str, lease_seconds: float, limit: int, caps: RunningCaps = NO_CAPS
) -> list[ClaimedJob]:
    """Take up to ``limit`` queued jobs, oldest first (within each tenant's running cap), and log
    ``job.running`` for each."""
    return await _claim(
        engine, owner=owner, lease_seconds=lease_seconds, limit=limit, expired=False, caps=caps
    )


async def claim_expired(
    engine: AsyncEngine, *, owner: str, lease_seconds: float, limit: int
) -> list[ClaimedJob]:
    """Take over running jobs whose runner stopped renewing its lease (it crashed or hung)."""
    return await _claim(engine, owner=owner, lease_seconds=lease_seconds, limit=limit, expired=True)


async def renew_leases(engine: AsyncEngine, *, owner: str, lease_seconds: float) -> set[str]:
    """Extend every lease this runner holds; returns the ids it still holds (others were taken over)."""
    now = utcnow()
    mine = lock_in_id_order(
        select(JOBS.c.id).where(JOBS.c.lease_owner == owner, JOBS.c.status == "running"), engine.dialect.name
    )
    stmt = (
        update(JOBS)
        .where(JOBS.c.id.in_(mine))
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
        .returning(JOBS.c.id)
    )
    async with write_tx(engine) as conn:
        return {row.id for row in await conn.execute(stmt)}


async def cancel_requests(engine: AsyncEngine, *, owner: str) -> set[str]:
    """Ids of this runner's jobs whose cancel was requested through the API."""
    stmt = select(JOBS.c.id).where(
        JOBS.c.lease_owner == owner, JOBS.c.status == "running", JOBS.c.cancel_requested.is_(True)
    )
    async with engine.connect() as conn:
        return {row.id for row in await conn.execute(stmt)}


async def release_leases(engine: AsyncEngine, *, owner: str) -> int:
    """On a clean shutdown: hand running jobs back to the queue so another runner starts them at once."""
    stmt = (
        update(JOBS)
        .where(JOBS.c.lease_owner == owner, JOBS.c.status == "running")
        .values(status="queued", lease_owner=None, lease_expires_at=None, updated_at=utcnow())
    )
    async with write_tx(engine) as conn:
        return (await conn.execute(stmt)).rowcount


def running_counts(conn: Connection, tenant_ids: Iterable[str]) -> dict[str, int]:
    """How many jobs each of these tenants has running (inside the caller's transaction)."""
    ids = sorted(set(tenant_ids))
    if not ids:
        return {}
    query = (
        select(JOBS.c.tenant_id, func.count())
        .where(JOBS.c.status == "running", JOBS.c.tenant_id.in_(ids))
        .group_by(JOBS.c.tenant_id)
    )
    return {tenant: count for tenant, count in conn.execute(query).all()}


async def count_crash(engine: AsyncEngine, *, owner: str, job_id: str) -> int | None:
    """Add one to the job's crash count while this runner holds it; the new count (None: not ours now).

    The count lives in the row, so a runner restart does not reset it."""
    stmt = (
        update(JOBS)
        .where(JOBS.c.id == job_id, JOBS.c.lease_owner == owner, JOBS.c.status == "running")
        .values(crash_count=JOBS.c.crash_count + 1, updated_at=utcnow())
        .returning(JOBS.c.crash_count)
    )
    async with write_tx(engine) as conn:
        return (await conn.execute(stmt)).scalar()


async def release_lease(engine: AsyncEngine, *, owner: str, job_id: str) -> bool:
    """Put one job back in the queue if this runner still holds it (a no-op when another runner does)."""
    stmt = (
        update(JOBS)
        .where(JOBS.c.id == job_id, JOBS.c.lease_owner == owner, JOBS.c.status == "running")
        .values(status="queued", lease_owner=None, lease_expires_at=None, updated_at=utcnow())
    )
    async with write_tx(engine) as conn:
        return bool((await conn.execute(stmt)).rowcount)
