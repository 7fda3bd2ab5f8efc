"""The shapes of the rows the runner and the API hand the store, and of the errors they carry.

These are the columns as the database holds them (JSON columns as plain data); the public API shapes are
in ``models.py``. ``TypedDict`` keeps them plain dicts on the hot path (they go straight into
``executemany``) while the type checker knows every key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from gateway.store.models import JobStatus, StepStatus

#: Why a running job stops before its steps are done: the user canceled it, another runner took over its
#: lease, this runner is shutting down, or the pipeline's time limit passed.
AbortReason = Literal["cancel", "lost", "shutdown", "timeout"]


class StepErrorData(TypedDict):
    """``steps.error``: why a step failed, and whether the worker said a retry could help."""

    title: str
    detail: str
    retryable: bool


class JobErrorData(TypedDict):
    """``jobs.error``: why a job failed, and which step (if any) it failed in."""

    title: str
    detail: str
    step_id: str | None


def step_error(title: str, detail: str, *, retryable: bool = False) -> StepErrorData:
    return {"title": title, "detail": detail, "retryable": retryable}


def job_error(title: str, detail: str, *, step_id: str | None = None) -> JobErrorData:
    return {"title": title, "detail": detail, "step_id": step_id}


class StepRow(TypedDict):
    """A full update of one steps row (everything but its key's job id and its fixed plan columns)."""

    step_id: str
    status: StepStatus
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    backend: str | None
    model: str | None
    placeholder: bool
    fallback: bool
    outputs: dict[str, Any]
    error: StepErrorData | None
    usage: dict[str, Any] | None


class NewStepRow(TypedDict):
    """The fixed columns of a map item's step row, inserted when its map step starts (job id added later)."""

    step_id: str
    position: int
    worker: str
    parent: str
    item_index: int
    is_map: bool
    status: StepStatus
    attempts: int
    placeholder: bool
    fallback: bool
    outputs: dict[str, Any]


class EventRow(TypedDict):
    """One ``job_events`` row; the job id is added by whoever writes it for that job."""

    type: str
    at: datetime
    status: str | None
    step_id: NotRequired[str | None]
    attempt: NotRequired[int | None]
    detail: NotRequired[str | None]


def event_row(
    type_: str,
    at: datetime,
    *,
    status: str | None,
    step_id: str | None = None,
    attempt: int | None = None,
    detail: str | None = None,
) -> EventRow:
    """An event with every column set (``executemany`` needs one key set for all rows)."""
    return {
        "type": type_,
        "at": at,
        "status": status,
        "step_id": step_id,
        "attempt": attempt,
        "detail": detail,
    }


class FileRow(TypedDict):
    """One ``files`` row: an upload (no job yet) or a registered step output."""

    id: str
    tenant_id: str
    path: str
    content_type: str
    kind: str
    bytes: int
    sha256: str
    original_name: str | None
    job_id: str | None
    step_id: str | None
    created_at: datetime


class TerminalJobRow(TypedDict):
    """The jobs columns set when a job reaches a terminal status (its lease is given up with it)."""

    status: JobStatus
    outputs: dict[str, Any]
    error: JobErrorData | None
    usage: dict[str, Any]
    finished_at: datetime
    updated_at: datetime
    lease_owner: None
    lease_expires_at: None


def terminal_job_row(
    status: JobStatus,
    *,
    now: datetime,
    error: JobErrorData | None = None,
    outputs: dict[str, Any] | None = None,
    usage: dict[str, Any] | None = None,
) -> TerminalJobRow:
    """The one place a finished job's row is built (the runner's end of a job, an unknown pipeline,
    a job that crashed its runner too often)."""
    return {
        "status": status,
        "outputs": outputs or {},
        "error": error,
        "usage": usage or {},
        "finished_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }
