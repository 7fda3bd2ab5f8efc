"""Job data functions used by the API: create (with idempotency), read, list with a cursor, cancel."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import (
    BadRequestError,
    ConflictError,
    IdempotencyMismatchError,
    InvalidInputError,
    NotFoundError,
)
from gateway.store.batch import InsertBatcher, insert_rows
from gateway.store.db import write_tx
from gateway.store.events import announce
from gateway.store.models import (
    EVENTS,
    FILES,
    IDEMPOTENCY,
    JOB_FILES,
    JOBS,
    STEPS,
    JobPublic,
    JobStatus,
    as_utc,
    is_terminal,
    utcnow,
)
from gateway.store.render import new_job_public, render_jobs
from gateway.store.rows import FileRow, event_row
from workers.kit.contract import FileRef


@dataclass(frozen=True)
class NewJob:
    """What the API hands the store to create a job: validated inputs and the plan of steps."""

    tenant_id: str
    pipeline: str
    inputs: dict[str, Any]
    steps: Sequence[tuple[str, str]]  # (step id, worker) in spec order
    map_steps: frozenset[str] = frozenset()  # ids of the steps that run once per item (for_each)
    uploads: Sequence[FileRow] = ()  # files rows for files uploaded with the request
    traceparent: str | None = None  # the submitting request's span (tracing on), continued by the runner
    file_ids: Sequence[str] = ()  # every registered file the job uses as an input (job_files)


def _content(value: Any) -> Any:
    """File references compared by content, so a retried multipart upload hashes like the first."""
    if FileRef.looks_like(value):
        return {"sha256": value["sha256"], "content_type": value["content_type"]}
    if isinstance(value, dict):
        return {key: _content(item) for key, item in value.items()}
    return value


def request_hash(pipeline: str, inputs: dict[str, Any]) -> str:
    """A stable digest of a create request, to tell a retried submit from a different one."""
    import hashlib

    canonical = json.dumps(
        {"pipeline": pipeline, "inputs": _content(inputs)}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_job(
    engine: AsyncEngine,
    *,
    new: NewJob,
    idempotency_key: str | None = None,
    batcher: InsertBatcher | None = None,
    files: dict[str, dict[str, Any]] | None = None,
) -> tuple[JobPublic, bool]:
    """Insert the job, its pending steps and its ``job.queued`` event in one transaction.

    With a ``batcher``, the rows share a transaction with other submits arriving at the same moment
    (group commit); the call still returns only once they are committed. With an idempotency key, a
    repeat of the same request returns the first job's id; the same key with a different request raises
    :class:`IdempotencyMismatchError`. Returns ``(job, created)``; ``files`` (path → FilePublic of the
    file inputs) lets a new job be shown without reading it back.
    """
    tenant_id = new.tenant_id
    digest = request_hash(new.pipeline, new.inputs) if idempotency_key else ""
    if idempotency_key and (existing := await _job_for_key(engine, tenant_id, idempotency_key, digest)):
        return await get_job(engine, tenant_id=tenant_id, job_id=existing), False
    job_id = uuid.uuid4().hex
    rows = job_rows(job_id=job_id, new=new, now=utcnow())
    if idempotency_key:
        key_row = {
            "tenant_id": tenant_id,
            "key": idempotency_key,
            "request_hash": digest,
            "job_id": job_id,
            "created_at": utcnow(),
        }
        rows.append((IDEMPOTENCY, [key_row]))
    try:
        if batcher is not None:
            committed = (await batcher.insert(rows)).get(job_id)
        else:
            async with write_tx(engine) as conn:
                await insert_rows(conn, rows)
            committed = None
    except IntegrityError:
        # Two submits with one key raced; the other committed first.
        if idempotency_key and (existing := await _job_for_key(engine, tenant_id, idempotency_key, digest)):
            return await get_job(engine, tenant_id=tenant_id, job_id=existing), False
        await _inputs_still_there(engine, new)
        raise
    by_table = dict(rows)
    job = new_job_public(by_table[JOBS][0], by_table[STEPS], files or {})
    if committed is not None:  # handed to this process's runner: it is running already
        status, started_at = committed
        job = job.model_copy(update={"status": status, "started_at": as_utc(started_at)})
    return job, True


async def _inputs_still_there(engine: AsyncEngine, new: NewJob) -> None:
    """422 when an input file was deleted (DELETE /v1/files, the janitor) while the job was submitted."""
    wanted = set(new.file_ids) - {row["id"] for row in new.uploads}
    if not wanted:
        return
    async with engine.connect() as conn:
        there = set((await conn.execute(select(FILES.c.id).where(FILES.c.id.in_(wanted)))).scalars())
    if gone := sorted(wanted - there):
        raise InvalidInputError(
            f"input file(s) {', '.join(gone)} were deleted while the job was being submitted; upload again",
            errors=[{"field": "inputs", "message": f"file {file_id} no longer exists"} for file_id in gone],
        )


async def _job_for_key(engine: AsyncEngine, tenant_id: str, key: str, digest: str) -> str | None:
    query = select(IDEMPOTENCY.c.request_hash, IDEMPOTENCY.c.job_id).where(
        IDEMPOTENCY.c.tenant_id == tenant_id, IDEMPOTENCY.c.key == key
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise IdempotencyMismatchError(
            f"Idempotency-Key {key!r} was already used for a different request (job {row.job_id})"
        )
    return str(row.job_id)


def job_rows(*, job_id: str, new: NewJob, now: datetime) -> list[tuple[Table, list[dict[str, Any]]]]:
    """Every row a new job needs, per table, in foreign-key order."""
    job = {
        "id": job_id,
        "tenant_id": new.tenant_id,
        "pipeline": new.pipeline,
        "status": "queued",
        "inputs": new.inputs,
        "outputs": {},
        "error": None,
        "usage": {},
        "cancel_requested": False,
        "crash_count": 0,
        "traceparent": new.traceparent,
        "lease_owner": None,  # every key a hand-over to the runner sets (one key set per executemany)
        "lease_expires_at": None,
        "started_at": None,
        "created_at": now,
        "updated_at": now,
    }
    steps = [
        {
            "job_id": job_id,
            "step_id": step_id,
            "position": position,
            "worker": worker,
            "is_map": step_id in new.map_steps,
            "status": "pending",
            "attempts": 0,
            "placeholder": False,
            "fallback": False,
            "outputs": {},
        }
        for position, (step_id, worker) in enumerate(new.steps)
    ]
    queued = {**event_row("job.queued", now, status="queued"), "job_id": job_id, "tenant_id": new.tenant_id}
    rows: list[tuple[Table, list[dict[str, Any]]]] = []
    if new.uploads:
        rows.append((FILES, [dict(row) for row in new.uploads]))
    rows += [(JOBS, [job]), (STEPS, steps), (EVENTS, [queued])]
    if new.file_ids:
        rows.append((JOB_FILES, [{"job_id": job_id, "file_id": file_id} for file_id in new.file_ids]))
    return rows


async def get_job(engine: AsyncEngine, *, tenant_id: str, job_id: str) -> JobPublic:
    """The tenant's job as the API shows it; :class:`NotFoundError` when it has none with that id."""
    async with engine.connect() as conn:
        jobs = await render_jobs(conn, await _rows(conn, JOBS.c.id == job_id, JOBS.c.tenant_id == tenant_id))
    if not jobs:
        raise NotFoundError(f"no job with id {job_id!r}")
    return jobs[0]


async def _rows(conn: AsyncConnection, *where: Any, limit: int | None = None) -> list[Any]:
    query = select(JOBS).where(*where).order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list((await conn.execute(query)).all())


def encode_cursor(created_at: datetime, job_id: str) -> str:
    """An opaque cursor pointing just after this job in newest-first order."""
    raw = json.dumps([created_at.isoformat(), job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position inside a cursor; :class:`BadRequestError` when it was not made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        return datetime.fromisoformat(created), str(job_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadRequestError(
            f"cursor {cursor!r} is not a cursor this API returned", title="Bad cursor"
        ) from None


async def list_jobs(
    engine: AsyncEngine,
    *,
    tenant_id: str,
    status: JobStatus | None = None,
    pipeline: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> tuple[list[JobPublic], str | None]:
    """The tenant's jobs newest first, filtered; one page and the cursor of the next (None on the last)."""
    where: list[Any] = [JOBS.c.tenant_id == tenant_id]
    if status:
        where.append(JOBS.c.status == status)
    if pipeline:
        where.append(JOBS.c.pipeline == pipeline)
    if cursor:
        created, job_id = decode_cursor(cursor)
        where.append(or_(JOBS.c.created_at < created, and_(JOBS.c.created_at == created, JOBS.c.id < job_id)))
    async with engine.connect() as conn:
        rows = await _rows(conn, *where, limit=limit + 1)
        page = await render_jobs(conn, rows[:limit])
    next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return page, next_cursor


async def request_cancel(engine: AsyncEngine, *, tenant_id: str, job_id: str) -> bool:
    """Cancel a job. A queued job is canceled at once (True); a running one is flagged for its runner
    (False), which aborts the in-flight call. :class:`ConflictError` when the job already finished."""
    now = utcnow()
    async with write_tx(engine) as conn:
        done = await conn.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.tenant_id == tenant_id, JOBS.c.status == "queued")
            .values(status="canceled", cancel_requested=True, finished_at=now, updated_at=now)
        )
        if done.rowcount:
            await conn.execute(
                update(STEPS)
                .where(STEPS.c.job_id == job_id, STEPS.c.status == "pending")
                .values(status="skipped")
            )
            canceled = event_row("job.canceled", now, status="canceled", detail="canceled")
            await conn.execute(insert(EVENTS), {**canceled, "job_id": job_id, "tenant_id": tenant_id})
            await announce(conn)
            return True
        flagged = await conn.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.tenant_id == tenant_id, JOBS.c.status == "running")
            .values(cancel_requested=True, updated_at=now)
        )
        if flagged.rowcount:
            return False
        status = (
            await conn.execute(
                select(JOBS.c.status).where(JOBS.c.id == job_id, JOBS.c.tenant_id == tenant_id)
            )
        ).scalar()
    if status is None:
        raise NotFoundError(f"no job with id {job_id!r}")
    assert is_terminal(status)
    raise ConflictError(f"job {job_id} already {status}; only queued or running jobs can be canceled")


async def job_status(engine: AsyncEngine, *, tenant_id: str, job_id: str) -> JobStatus:
    """Just the job's status (cheap); :class:`NotFoundError` when the tenant has no such job."""
    query = select(JOBS.c.status).where(JOBS.c.id == job_id, JOBS.c.tenant_id == tenant_id)
    async with engine.connect() as conn:
        status = (await conn.execute(query)).scalar()
    if status is None:
        raise NotFoundError(f"no job with id {job_id!r}")
    return cast(JobStatus, status)


async def job_counts(engine: AsyncEngine) -> dict[str, int]:
    """How many jobs there are in each status (for ``/metrics``)."""
    query = select(JOBS.c.status, func.count()).group_by(JOBS.c.status)
    async with engine.connect() as conn:
        return {status: count for status, count in (await conn.execute(query)).all()}


async def oldest_queued_age(engine: AsyncEngine) -> float | None:
    """Seconds the oldest queued job has waited, None when nothing is queued (for ``/metrics``; the
    ``(status, created_at)`` index answers it without a scan)."""
    query = select(func.min(JOBS.c.created_at)).where(JOBS.c.status == "queued")
    async with engine.connect() as conn:
        oldest = as_utc((await conn.execute(query)).scalar())
    return None if oldest is None else (utcnow() - oldest).total_seconds()
