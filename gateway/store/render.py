"""Turn stored rows into the public Job shape: file references become ``FilePublic`` with /v1/files URLs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.models import (
    FILES,
    STEPS,
    FileKind,
    JobPublic,
    JobUsage,
    StepItems,
    StepPublic,
    as_utc,
    utc,
)
from workers.kit.contract import FileRef


def file_kind(content_type: str) -> FileKind:
    """``image``, ``audio`` or ``other`` from a content type."""
    major = content_type.split("/", 1)[0]
    if major == "image":
        return "image"
    return "audio" if major == "audio" else "other"


def file_public(record: Any) -> dict[str, Any]:
    """A files row (or anything with the same attributes) as the API's FilePublic dict."""
    return {
        "id": record.id,
        "url": f"/v1/files/{record.id}",
        "content_type": record.content_type,
        "bytes": record.bytes,
        "sha256": record.sha256,
        "kind": record.kind,
    }


def _file_paths(value: Any) -> Iterator[str]:
    if FileRef.looks_like(value):
        yield value["file"]
    elif isinstance(value, dict):
        for item in value.values():
            yield from _file_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from _file_paths(item)


def publicize(value: Any, files: dict[str, dict[str, Any]]) -> Any:
    """Replace every registered file reference inside ``value`` with its FilePublic dict."""
    if FileRef.looks_like(value):
        return files.get(value["file"], value)
    if isinstance(value, dict):
        return {key: publicize(item, files) for key, item in value.items()}
    if isinstance(value, list):
        return [publicize(item, files) for item in value]
    return value


async def _files_by_path(conn: AsyncConnection, paths: set[str]) -> dict[str, dict[str, Any]]:
    if not paths:
        return {}
    rows = (await conn.execute(select(FILES).where(FILES.c.path.in_(sorted(paths))))).all()
    return {row.path: file_public(row) for row in rows}


def step_fields(row: Any) -> dict[str, Any]:
    """A steps row as the fields its public shape and the runner's mirror share (timestamps in UTC)."""
    return {
        "id": row.step_id,
        "parent": row.parent,
        "index": row.item_index,
        "worker": row.worker,
        "status": row.status,
        "attempts": row.attempts,
        "started_at": as_utc(row.started_at),
        "finished_at": as_utc(row.finished_at),
        "duration_ms": row.duration_ms,
        "backend": row.backend,
        "model": row.model,
        "placeholder": row.placeholder,
        "fallback": row.fallback,
        "outputs": row.outputs or {},
        "error": row.error,
        "usage": row.usage,
    }


def item_counts(statuses: Sequence[str]) -> StepItems:
    """How a map step's items stand, from their statuses."""
    return StepItems(
        total=len(statuses),
        succeeded=sum(s == "succeeded" for s in statuses),
        failed=sum(s == "failed" for s in statuses),
        running=sum(s == "running" for s in statuses),
    )


def _steps_public(rows: Sequence[Any], files: dict[str, dict[str, Any]]) -> list[StepPublic]:
    """A job's step rows in order; a map step carries its items' counts."""
    statuses: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.parent is not None:
            statuses[row.parent].append(row.status)
    out = []
    for row in rows:
        fields = step_fields(row)
        fields["outputs"] = publicize(fields["outputs"], files)
        fields["items"] = item_counts(statuses.get(row.step_id, [])) if row.is_map else None
        out.append(StepPublic(**fields))
    return out


async def render_jobs(conn: AsyncConnection, rows: Sequence[Any]) -> list[JobPublic]:
    """Public jobs for these jobs rows, in the same order, with three queries in all."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    step_rows = (
        await conn.execute(
            select(STEPS)
            .where(STEPS.c.job_id.in_(ids))
            .order_by(STEPS.c.job_id, STEPS.c.position, func.coalesce(STEPS.c.item_index, -1))
        )
    ).all()
    steps: dict[str, list[Any]] = defaultdict(list)
    for step in step_rows:
        steps[step.job_id].append(step)
    paths = {p for row in rows for p in _file_paths([row.inputs, row.outputs])}
    paths |= {p for step in step_rows for p in _file_paths(step.outputs)}
    files = await _files_by_path(conn, paths)
    usage_defaults = {"seconds": 0.0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    return [
        JobPublic(
            id=row.id,
            pipeline=row.pipeline,
            status=row.status,
            inputs=publicize(row.inputs, files),
            outputs=publicize(row.outputs, files),
            error=row.error,
            steps=_steps_public(steps[row.id], files),
            usage=JobUsage(**{**usage_defaults, **(row.usage or {})}),
            created_at=utc(row.created_at),
            started_at=as_utc(row.started_at),
            finished_at=as_utc(row.finished_at),
            updated_at=utc(row.updated_at),
        )
        for row in rows
    ]


def new_job_public(
    job_rows: dict[str, Any],
    steps: list[dict[str, Any]],
    files: dict[str, dict[str, Any]],
) -> JobPublic:
    """The public view of a job just inserted from these rows, without reading it back."""
    return JobPublic(
        id=job_rows["id"],
        pipeline=job_rows["pipeline"],
        status="queued",
        inputs=publicize(job_rows["inputs"], files),
        outputs={},
        error=None,
        steps=[
            StepPublic(
                id=step["step_id"],
                parent=None,
                index=None,
                items=item_counts([]) if step.get("is_map") else None,
                worker=step["worker"],
                status="pending",
                attempts=0,
                started_at=None,
                finished_at=None,
                duration_ms=None,
                backend=None,
                model=None,
                placeholder=False,
                fallback=False,
                outputs={},
                error=None,
                usage=None,
            )
            for step in steps
        ],
        usage=JobUsage(),
        created_at=job_rows["created_at"],
        started_at=None,
        finished_at=None,
        updated_at=job_rows["updated_at"],
    )
