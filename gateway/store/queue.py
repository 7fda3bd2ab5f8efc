"""Runner-side statements: claim jobs under a lease, renew it, notice cancel requests, load step state.

All of these are SQLAlchemy Core on the hot path. Claiming differs per database:
- PostgreSQL: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``, so several
  runner processes claim disjoint batches without waiting on each other; the outer ``WHERE status = …``
  is re-checked on the locked row version, so a row changed since the snapshot is never double-claimed.
- SQLite: the same conditional UPDATE without the lock clause; SQLite runs one writer at a time, which
  makes the statement atomic on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.db import write_tx
from gateway.store.models import Job, JobEvent, Step, as_utc, utcnow

JOBS = Job.__table__  # type: ignore[attr-defined]
STEPS = Step.__table__  # type: ignore[attr-defined]
EVENTS = JobEvent.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class ClaimedJob:
    """A job this runner now holds the lease on, with the step rows it has so far."""

    id: str
    pipeline: str
    inputs: dict[str, Any]
    started_at: datetime
    resumed: bool  # True when taken over from a runner whose lease expired
    steps: dict[str, Any]  # step id → steps row


def lock_in_id_order(query: Any, dialect: str) -> Any:
    """On PostgreSQL, lock the selected job rows in id order: two statements of one runner that both
    lock many of its rows (lease renewal, the group writer's fence) then queue instead of deadlocking."""
    if dialect == "postgresql":
        return query.order_by(JOBS.c.id).with_for_update()
    return query


async def _claim(
    engine: AsyncEngine, *, owner: str, lease_seconds: float, limit: int, expired: bool
) -> list[ClaimedJob]:
    now = utcnow()
    if expired:
        cond = [JOBS.c.status == "running", JOBS.c.lease_expires_at < now]
    else:
        cond = [JOBS.c.status == "queued"]
    pick = select(JOBS.c.id).where(*cond).order_by(JOBS.c.created_at).limit(limit)
    if engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    claim = (
        update(JOBS)
        .where(JOBS.c.id.in_(pick), *cond)
        .values(
            status="running",
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            started_at=JOBS.c.started_at if expired else now,
            updated_at=now,
        )
        .returning(JOBS.c.id, JOBS.c.pipeline, JOBS.c.inputs, JOBS.c.started_at)
    )
    async with write_tx(engine) as conn:
        rows = (await conn.execute(claim)).all()
        if not rows:
            return []
        if expired:
            detail = f"resumed by runner {owner} after the previous runner's lease expired"
        else:
            detail = f"claimed by runner {owner}"
        await conn.execute(
            insert(EVENTS),
            [
                {"job_id": r.id, "type": "job.running", "status": "running", "detail": detail, "at": now}
                for r in rows
            ],
        )
        steps = (await conn.execute(select(STEPS).where(STEPS.c.job_id.in_([r.id for r in rows])))).all()
    by_job: dict[str, dict[str, Any]] = {r.id: {} for r in rows}
    for step in steps:
        by_job[step.job_id][step.step_id] = step
    return [
        ClaimedJob(r.id, r.pipeline, r.inputs, as_utc(r.started_at) or now, expired, by_job[r.id])
        for r in rows
    ]


async def claim_queued(
    engine: AsyncEngine, *, owner: str, lease_seconds: float, limit: int
) -> list[ClaimedJob]:
    """Take up to ``limit`` queued jobs, oldest first, and log ``job.running`` for each."""
    return await _claim(engine, owner=owner, lease_seconds=lease_seconds, limit=limit, expired=False)


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


async def release_lease(engine: AsyncEngine, *, owner: str, job_id: str) -> bool:
    """Put one job back in the queue if this runner still holds it (a no-op when another runner does)."""
    stmt = (
        update(JOBS)
        .where(JOBS.c.id == job_id, JOBS.c.lease_owner == owner, JOBS.c.status == "running")
        .values(status="queued", lease_owner=None, lease_expires_at=None, updated_at=utcnow())
    )
    async with write_tx(engine) as conn:
        return bool((await conn.execute(stmt)).rowcount)
