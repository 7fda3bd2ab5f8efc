"""The job event log: reading one job's events (a stream's replay), reading the global feed (the event
hub, ``gateway/events/``), and announcing appended events to other processes.

Every transaction that appends events calls :func:`announce` / :func:`announce_sync` once: on PostgreSQL
that is one ``NOTIFY modaline_events`` per commit (PostgreSQL delivers it at commit, and folds repeats
inside one transaction); on SQLite nothing (the in-process notifier and the hub's slow poll serve).

Per job, events commit in ``seq`` order: every transaction that appends a job's events first writes that
job's row (the runner's fence, the claim, cancel; the submit inserts it), which serialises them on the
row's lock. Across jobs, PostgreSQL may commit a lower ``seq`` after a higher one; the hub handles that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.models import EVENTS, EventPublic, utc

#: The PostgreSQL notification channel every event-appending commit notifies (name other tools rely on).
EVENTS_CHANNEL = "modaline_events"
_NOTIFY = text(f"NOTIFY {EVENTS_CHANNEL}")
_SNAPSHOT = text(
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, "
    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax"
)


def announce_sync(conn: Connection) -> None:
    """Inside a transaction that appended events: tell other processes' hubs (PostgreSQL, at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY)


async def announce(conn: AsyncConnection) -> None:
    """:func:`announce_sync` on an async connection."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_NOTIFY)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as streams send it: routing fields plus its JSON (an :class:`EventPublic`), made once.

    The type is not checked here: new event types pass through the hub and the streams unchanged."""

    seq: int
    job_id: str
    tenant_id: str
    type: str
    data: str


def stored_event(row: Any) -> StoredEvent:
    """A ``job_events`` row as a :class:`StoredEvent`."""
    public = EventPublic.model_construct(
        seq=row.seq,
        job_id=row.job_id,
        type=row.type,
        step_id=row.step_id,
        status=row.status,
        attempt=row.attempt,
        detail=row.detail,
        at=utc(row.at),
    )
    return StoredEvent(row.seq, row.job_id, row.tenant_id, row.type, public.model_dump_json())


async def events_after(
    engine: AsyncEngine, *, tenant_id: str, job_id: str, after: int = 0, limit: int = 500
) -> list[StoredEvent]:
    """The tenant's job's events with ``seq > after``, oldest first (a stream's replay)."""
    query = (
        select(EVENTS)
        .where(EVENTS.c.job_id == job_id, EVENTS.c.tenant_id == tenant_id, EVENTS.c.seq > after)
        .order_by(EVENTS.c.seq)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [stored_event(row) for row in rows]


@dataclass(frozen=True, slots=True)
class FeedRead:
    """One read of the global feed: rows (``seq`` order) and, on PostgreSQL, the read's snapshot bounds
    (64-bit transaction ids: every transaction below ``xmin`` had ended; none at or above ``xmax`` had
    started)."""

    rows: list[Any]
    xmin: int | None = None
    xmax: int | None = None


async def read_feed(
    engine: AsyncEngine, *, after: int, also: Sequence[int] = (), limit: int = 1_000, full: bool = True
) -> FeedRead:
    """Events with ``seq > after`` or ``seq`` in ``also`` (an unresolved gap), oldest first, on the primary
    key; ``full=False`` reads ``seq`` only (nobody is listening, the hub only keeps its place).

    On PostgreSQL the read runs in one REPEATABLE READ snapshot, whose bounds are returned with it."""
    columns = list(EVENTS.c) if full else [EVENTS.c.seq]
    cond = EVENTS.c.seq > after
    if also:
        cond = or_(cond, EVENTS.c.seq.in_(list(also)))
    query = select(*columns).where(cond).order_by(EVENTS.c.seq).limit(limit)
    async with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return FeedRead(list((await conn.execute(query)).all()))
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            snap = (await conn.execute(_SNAPSHOT)).one()
            rows = list((await conn.execute(query)).all())
        return FeedRead(rows, int(snap.xmin), int(snap.xmax))


async def last_seq(engine: AsyncEngine) -> int:
    """The highest ``seq`` committed so far (0 when there are no events)."""
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(EVENTS.c.seq).order_by(EVENTS.c.seq.desc()).limit(1))).scalar() or 0
        )


async def read_events(engine: AsyncEngine, seqs: Sequence[int]) -> list[Any]:
    """Whole rows of these ``seq`` values (those that exist), oldest first."""
    if not seqs:
        return []
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(select(EVENTS).where(EVENTS.c.seq.in_(list(seqs))).order_by(EVENTS.c.seq))
            ).all()
        )
