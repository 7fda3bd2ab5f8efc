"""Reading a job's event log (the runner and API append to it inside their own transactions)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.models import EVENTS, EventPublic, utc


async def events_after(
    engine: AsyncEngine, *, tenant_id: str, job_id: str, after: int = 0, limit: int = 500
) -> list[EventPublic]:
    """The tenant's job's events with ``seq > after``, oldest first."""
    query = (
        select(EVENTS)
        .where(EVENTS.c.job_id == job_id, EVENTS.c.tenant_id == tenant_id, EVENTS.c.seq > after)
        .order_by(EVENTS.c.seq)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        EventPublic(
            seq=row.seq,
            job_id=row.job_id,
            type=row.type,
            step_id=row.step_id,
            status=row.status,
            attempt=row.attempt,
            detail=row.detail,
            at=utc(row.at),
        )
        for row in rows
    ]
