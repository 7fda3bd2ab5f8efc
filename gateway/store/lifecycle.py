"""Deleting jobs and files: the rows go first, their storage keys go to an outbox in the same transaction.

A job is deleted with everything that is only its own: its steps, events, idempotency key, the files it
produced and the files it used (``job_files``) that no remaining job uses. A file another job still uses
stays (an output of a deleted job loses its ``job_id`` and lives on as an input of the other job). The
keys to delete are written to ``file_deletions`` in the transaction that deletes the rows, and deleted
through the storage interface only after that commit (by the caller right away, or the janitor later):
a crash in between leaves bytes nobody points at, never a row that points at missing bytes.

Selection for the janitor (expired jobs, orphaned uploads, the outbox) takes small batches and, on
PostgreSQL, ``FOR UPDATE SKIP LOCKED``, so several runners share the work without waiting on each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import ConflictError, NotFoundError
from gateway.store.db import write_tx
from gateway.store.models import (
    EVENTS,
    FILE_DELETIONS,
    FILES,
    IDEMPOTENCY,
    JOB_FILES,
    JOBS,
    STEPS,
    TENANTS,
    is_terminal,
    utcnow,
)

TERMINAL = ("succeeded", "failed", "canceled")


def job_prefix(job_id: str) -> str:
    """The storage prefix under which a job's step outputs are written (``docs/conventions.md``)."""
    return f"jobs/{job_id}"


@dataclass(frozen=True, slots=True)
class Outboxed:
    """One ``file_deletions`` entry: a key (or with ``prefix``, every key under ``key/``) to delete."""

    id: int
    key: str
    prefix: bool


@dataclass(slots=True)
class Deleted:
    """What one deletion removed: job and file rows (by origin and kind) and the outbox entries it wrote."""

    jobs: int = 0
    job_ids: list[str] = field(default_factory=list)
    files: dict[tuple[str, str], int] = field(default_factory=dict)  # (origin, kind) → files rows
    outbox: list[Outboxed] = field(default_factory=list)

    @property
    def file_count(self) -> int:
        return sum(self.files.values())


# --- policy ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Retention:
    """How long things are kept: ``retention_days`` for finished jobs (None: forever) and
    ``upload_ttl_hours`` for uploads no job uses (None: forever), each overridable per tenant."""

    retention_days: float | None = None
    upload_ttl_hours: float | None = 24.0
    tenant_days: Mapping[str, float] = field(default_factory=dict)
    tenant_ttl_hours: Mapping[str, float] = field(default_factory=dict)

    def days_for(self, tenant_id: str) -> float | None:
        return self.tenant_days.get(tenant_id, self.retention_days)

    def ttl_for(self, tenant_id: str) -> float | None:
        return self.tenant_ttl_hours.get(tenant_id, self.upload_ttl_hours)

    def expires_at(self, tenant_id: str, finished_at: datetime | None) -> datetime | None:
        """When a job that finished at ``finished_at`` is deleted (None: it runs, or nothing expires)."""
        days = self.days_for(tenant_id)
        if finished_at is None or days is None:
            return None
        return finished_at + timedelta(days=days)


async def tenant_overrides(engine: AsyncEngine) -> tuple[dict[str, float], dict[str, float]]:
    """Per-tenant ``retention_days`` and ``upload_ttl_hours`` overrides (tenants without one are absent)."""
    query = select(TENANTS.c.id, TENANTS.c.retention_days, TENANTS.c.upload_ttl_hours).where(
        or_(TENANTS.c.retention_days.is_not(None), TENANTS.c.upload_ttl_hours.is_not(None))
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    days = {row.id: float(row.retention_days) for row in rows if row.retention_days is not None}
    ttl = {row.id: float(row.upload_ttl_hours) for row in rows if row.upload_ttl_hours is not None}
    return days, ttl


async def set_tenant_retention(
    engine: AsyncEngine, *, tenant_id: str, retention_days: float | None, upload_ttl_hours: float | None
) -> None:
    """Set (or with None, clear) a tenant's retention overrides; :class:`NotFoundError` for no such tenant."""
    async with write_tx(engine) as conn:
        done = await conn.execute(
            update(TENANTS)
            .where(TENANTS.c.id == tenant_id)
            .values(retention_days=retention_days, upload_ttl_hours=upload_ttl_hours)
        )
    if not done.rowcount:
        raise NotFoundError(f"no tenant {tenant_id!r}")


# --- deleting rows (synchronous: one transaction body for the API and the janitor) ------------------------


def _outbox(conn: Connection, entries: list[tuple[str, bool]], now: datetime) -> list[Outboxed]:
    """Insert the entries (one executemany) and read back their ids in the same transaction."""
    if not entries:
        return []
    floor = conn.execute(select(func.max(FILE_DELETIONS.c.id))).scalar() or 0
    conn.execute(
        insert(FILE_DELETIONS), [{"key": key, "prefix": prefix, "created_at": now} for key, prefix in entries]
    )
    wanted = {key for key, _ in entries}
    rows = conn.execute(
        select(FILE_DELETIONS).where(FILE_DELETIONS.c.id > floor, FILE_DELETIONS.c.created_at == now)
    )
    return [Outboxed(int(row.id), row.key, row.prefix) for row in rows if row.key in wanted]


def delete_jobs_sync(conn: Connection, job_ids: list[str]) -> Deleted:
    """Delete these jobs and what is only theirs, in the caller's transaction; outbox their files."""
    result = Deleted()
    if not job_ids:
        return result
    produced = conn.execute(select(FILES.c.id, FILES.c.path, FILES.c.kind).where(FILES.c.job_id.in_(job_ids)))
    used = conn.execute(
        select(FILES.c.id, FILES.c.path, FILES.c.kind)
        .join(JOB_FILES, JOB_FILES.c.file_id == FILES.c.id)
        .where(JOB_FILES.c.job_id.in_(job_ids))
    )
    candidates = {row.id: (row.path, row.kind, "output") for row in produced}
    for row in used:
        candidates.setdefault(row.id, (row.path, row.kind, "upload"))
    still_used = set()
    if candidates:
        still_used = set(
            conn.execute(
                select(JOB_FILES.c.file_id)
                .where(JOB_FILES.c.file_id.in_(list(candidates)), JOB_FILES.c.job_id.not_in(job_ids))
                .distinct()
            ).scalars()
        )
    doomed = {file_id: info for file_id, info in candidates.items() if file_id not in still_used}
    kept = [file_id for file_id in still_used if candidates[file_id][2] == "output"]
    # A job whose outputs all go loses its whole prefix (unregistered bytes too); one with an output
    # another job uses keeps the prefix and loses the doomed keys one by one (the stray sweep gets the rest).
    kept_prefixes = (
        {
            job_prefix(job)
            for job in conn.execute(select(FILES.c.job_id).where(FILES.c.id.in_(kept))).scalars()
        }
        if kept
        else set()
    )
    prefixes = [job_prefix(job) for job in job_ids if job_prefix(job) not in kept_prefixes]
    entries: list[tuple[str, bool]] = [(prefix, True) for prefix in prefixes]
    entries += [
        (path, False)
        for path, _kind, _origin in doomed.values()
        if not any(path.startswith(prefix + "/") for prefix in prefixes)
    ]
    if kept:
        conn.execute(update(FILES).where(FILES.c.id.in_(kept)).values(job_id=None))
    conn.execute(delete(JOB_FILES).where(JOB_FILES.c.job_id.in_(job_ids)))
    if doomed:
        conn.execute(delete(FILES).where(FILES.c.id.in_(list(doomed))))
    for table in (EVENTS, STEPS, IDEMPOTENCY):
        conn.execute(delete(table).where(table.c.job_id.in_(job_ids)))
    result.jobs = conn.execute(delete(JOBS).where(JOBS.c.id.in_(job_ids))).rowcount
    result.job_ids = list(job_ids)
    for _path, kind, origin in doomed.values():
        result.files[(origin, kind)] = result.files.get((origin, kind), 0) + 1
    result.outbox = _outbox(conn, entries, utcnow())
    return result


def delete_uploads_sync(conn: Connection, rows: Iterable[Any]) -> Deleted:
    """Delete these files rows (uploads no job uses) and outbox their keys, in the caller's transaction."""
    rows = list(rows)
    result = Deleted()
    if not rows:
        return result
    conn.execute(delete(FILES).where(FILES.c.id.in_([row.id for row in rows])))
    for row in rows:
        result.files[("upload", row.kind)] = result.files.get(("upload", row.kind), 0) + 1
    result.outbox = _outbox(conn, [(row.path, False) for row in rows], utcnow())
    return result


# --- the API's deletes ------------------------------------------------------------------------------------


def _locked(query: Any, conn: Connection | Any) -> Any:
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


async def delete_job(engine: AsyncEngine, *, tenant_id: str, job_id: str) -> Deleted:
    """Delete the tenant's finished job (:func:`delete_jobs_sync`).

    :class:`NotFoundError` when the tenant has no such job (also on a second delete);
    :class:`ConflictError` while it is queued or running: cancel it first.
    """
    async with write_tx(engine) as conn:
        query = _locked(select(JOBS.c.status).where(JOBS.c.id == job_id, JOBS.c.tenant_id == tenant_id), conn)
        status = (await conn.execute(query)).scalar()
        if status is None:
            raise NotFoundError(f"no job with id {job_id!r}")
        if not is_terminal(status):
            raise ConflictError(
                f"job {job_id} is {status}: cancel it first (POST /v1/jobs/{job_id}/cancel), "
                "then delete it once it has stopped",
                title="Job still running",
            )
        return await conn.run_sync(delete_jobs_sync, [job_id])


async def delete_upload(engine: AsyncEngine, *, tenant_id: str, file_id: str) -> Deleted:
    """Delete the tenant's upload that no job uses.

    :class:`NotFoundError` when the tenant has no such file (also on a second delete);
    :class:`ConflictError` when a job uses it as an input or it is a step output of an existing job.
    """
    async with write_tx(engine) as conn:
        query = _locked(select(FILES).where(FILES.c.id == file_id, FILES.c.tenant_id == tenant_id), conn)
        row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError(f"no file with id {file_id!r}")
        if row.job_id is not None:
            raise ConflictError(
                f"file {file_id} is an output of job {row.job_id}: delete the job (DELETE /v1/jobs/{row.job_id})",
                title="File belongs to a job",
            )
        users = (
            (
                await conn.execute(
                    select(JOB_FILES.c.job_id)
                    .where(JOB_FILES.c.file_id == file_id)
                    .order_by(JOB_FILES.c.job_id)
                    .limit(5)
                )
            )
            .scalars()
            .all()
        )
        if users:
            raise ConflictError(
                f"file {file_id} is an input of job(s) {', '.join(users)}: delete those jobs first "
                "(a file is deleted with the last job that uses it)",
                title="File in use",
            )
        return await conn.run_sync(delete_uploads_sync, [row])


# --- the janitor's selections -----------------------------------------------------------------------------


def _skip_locked(query: Any, conn: Connection) -> Any:
    return query.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" else query


def _older_than(
    column: Any,
    tenant_column: Any,
    default: float | None,
    per_tenant: Mapping[str, float],
    unit: str,
    now: datetime,
) -> Any:
    """``column`` older than the tenant's window (``default`` for tenants without an override)."""

    def cutoff(amount: float) -> datetime:
        return now - timedelta(**{unit: amount})

    clauses = [
        and_(tenant_column == tenant, column < cutoff(amount)) for tenant, amount in per_tenant.items()
    ]
    if default is not None:
        others = column < cutoff(default)
        clauses.append(and_(tenant_column.not_in(list(per_tenant)), others) if per_tenant else others)
    return or_(*clauses) if clauses else None


def expire_jobs_sync(
    conn: Connection, policy: Retention, *, limit: int, now: datetime | None = None
) -> Deleted:
    """Delete up to ``limit`` finished jobs past their tenant's retention (one small transaction)."""
    now = now or utcnow()
    old = _older_than(
        JOBS.c.finished_at, JOBS.c.tenant_id, policy.retention_days, policy.tenant_days, "days", now
    )
    if old is None:
        return Deleted()
    query = _skip_locked(
        select(JOBS.c.id)
        .where(JOBS.c.status.in_(TERMINAL), JOBS.c.finished_at.is_not(None), old)
        .order_by(JOBS.c.finished_at)
        .limit(limit),
        conn,
    )
    ids = list(conn.execute(query).scalars())
    return delete_jobs_sync(conn, ids)


def expire_uploads_sync(
    conn: Connection, policy: Retention, *, limit: int, now: datetime | None = None
) -> Deleted:
    """Delete up to ``limit`` uploads that no job uses and that are older than their tenant's TTL."""
    now = now or utcnow()
    old = _older_than(
        FILES.c.created_at, FILES.c.tenant_id, policy.upload_ttl_hours, policy.tenant_ttl_hours, "hours", now
    )
    if old is None:
        return Deleted()
    unused = ~exists().where(JOB_FILES.c.file_id == FILES.c.id)
    query = _skip_locked(
        select(FILES.c.id, FILES.c.path, FILES.c.kind)
        .where(FILES.c.job_id.is_(None), unused, old)
        .order_by(FILES.c.created_at)
        .limit(limit),
        conn,
    )
    return delete_uploads_sync(conn, conn.execute(query).all())


def outbox_batch_sync(conn: Connection, *, limit: int) -> list[Outboxed]:
    """The oldest ``limit`` outbox entries (locked, skipping others' on PostgreSQL: call in a transaction)."""
    query = _skip_locked(select(FILE_DELETIONS).order_by(FILE_DELETIONS.c.id).limit(limit), conn)
    return [Outboxed(row.id, row.key, row.prefix) for row in conn.execute(query)]


def outbox_done_sync(conn: Connection, ids: list[int]) -> None:
    """Forget outbox entries whose bytes are deleted."""
    if ids:
        conn.execute(delete(FILE_DELETIONS).where(FILE_DELETIONS.c.id.in_(ids)))


async def outbox_done(engine: AsyncEngine, ids: list[int]) -> None:
    """:func:`outbox_done_sync` in its own transaction."""
    if ids:
        async with write_tx(engine) as conn:
            await conn.run_sync(outbox_done_sync, ids)


async def known_paths(engine: AsyncEngine, paths: list[str]) -> set[str]:
    """Which of these storage keys a files row points at."""
    if not paths:
        return set()
    async with engine.connect() as conn:
        return set((await conn.execute(select(FILES.c.path).where(FILES.c.path.in_(paths)))).scalars())


async def existing_jobs(engine: AsyncEngine, job_ids: list[str]) -> set[str]:
    """Which of these job ids have a row."""
    if not job_ids:
        return set()
    async with engine.connect() as conn:
        return set((await conn.execute(select(JOBS.c.id).where(JOBS.c.id.in_(job_ids)))).scalars())


# --- what is stored (for /metrics) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredCount:
    origin: str  # upload | output
    kind: str  # image | audio | other
    files: int
    bytes: int


async def stored_counts(engine: AsyncEngine) -> list[StoredCount]:
    """Files rows and their bytes by origin (upload or step output) and kind."""
    origin = (FILES.c.job_id.is_(None)).label("upload")
    query = select(origin, FILES.c.kind, func.count(), func.coalesce(func.sum(FILES.c.bytes), 0)).group_by(
        origin, FILES.c.kind
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [StoredCount("upload" if up else "output", kind, int(n), int(size)) for up, kind, n, size in rows]
