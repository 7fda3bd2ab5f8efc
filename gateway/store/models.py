"""Tables and public shapes, one model family per resource (Base / table / Public).

Tables are SQLModel classes so their columns are declared once; hot-path statements use their Core
``__table__`` directly. JSON columns hold worker-contract data as-is: a file inside inputs/outputs is a
``FileRef`` dict (``{file, content_type, bytes, sha256}``) and becomes a ``FilePublic`` only at the API edge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, Table, false
from sqlmodel import Field, SQLModel

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped"]
FileKind = Literal["image", "audio", "other"]
EventType = Literal[
    "job.queued",
    "job.running",
    "step.running",
    "step.retrying",
    "step.succeeded",
    "step.failed",
    "step.skipped",
    "job.succeeded",
    "job.failed",
    "job.canceled",
]
JOB_TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})
STEP_TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "skipped"})


def is_terminal(status: str) -> bool:
    """True for a job status that never changes again."""
    return status in JOB_TERMINAL


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _json(nullable: bool = False) -> Any:
    return Field(default=None if nullable else {}, sa_type=JSON, nullable=nullable)


#: The tenant of every request while auth is off, and of rows made before tenants existed.
DEFAULT_TENANT = "default"


def _tenant() -> Any:
    return Field(default=DEFAULT_TENANT, max_length=64, sa_column_kwargs={"server_default": DEFAULT_TENANT})


def _when(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


# --- jobs ---------------------------------------------------------------------------------------------------


class JobBase(SQLModel):
    pipeline: str = Field(max_length=100)


class Job(JobBase, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_pipeline_created", "pipeline", "created_at"),
        Index("ix_jobs_created_id", "created_at", "id"),
        Index("ix_jobs_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_jobs_tenant_status", "tenant_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    status: str = Field(default="queued", max_length=16)
    inputs: dict[str, Any] = _json()
    outputs: dict[str, Any] = _json()
    error: dict[str, Any] | None = _json(nullable=True)
    usage: dict[str, Any] = _json()
    cancel_requested: bool = False
    crash_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # runner crashes on it
    lease_owner: str | None = Field(default=None, max_length=64, index=True)
    lease_expires_at: datetime | None = _when()
    created_at: datetime = _when(nullable=False)
    started_at: datetime | None = _when()
    finished_at: datetime | None = _when()
    updated_at: datetime = _when(nullable=False)


# --- steps --------------------------------------------------------------------------------------------------


class Step(SQLModel, table=True):
    __tablename__ = "steps"

    job_id: str = Field(
        sa_column=Column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    )
    step_id: str = Field(primary_key=True, max_length=100)
    position: int = 0
    parent: str | None = Field(default=None, max_length=100)  # a map item's step (``draw`` of ``draw[3]``)
    item_index: int | None = None  # a map item's 0-based index
    is_map: bool = Field(default=False, sa_column_kwargs={"server_default": false()})  # runs per item
    worker: str = Field(max_length=32)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    started_at: datetime | None = _when()
    finished_at: datetime | None = _when()
    duration_ms: float | None = None
    backend: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=200)
    placeholder: bool = False
    fallback: bool = False
    outputs: dict[str, Any] = _json()
    error: dict[str, Any] | None = _json(nullable=True)
    usage: dict[str, Any] | None = _json(nullable=True)


# --- events -------------------------------------------------------------------------------------------------


class JobEvent(SQLModel, table=True):
    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_seq", "job_id", "seq"),)

    seq: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    tenant_id: str = _tenant()
    job_id: str = Field(
        sa_column=Column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    )
    type: str = Field(max_length=32)
    step_id: str | None = Field(default=None, max_length=100)
    status: str | None = Field(default=None, max_length=16)
    attempt: int | None = None
    detail: str | None = None
    at: datetime = _when(nullable=False)


# --- files --------------------------------------------------------------------------------------------------


class FileRecord(SQLModel, table=True):
    """An upload or a registered step output; ``path`` is relative to the files root."""

    __tablename__ = "files"

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = _tenant()
    path: str = Field(max_length=500, unique=True)
    content_type: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    bytes: int
    sha256: str = Field(max_length=64)
    original_name: str | None = Field(default=None, max_length=300)
    job_id: str | None = Field(default=None, max_length=32, index=True)
    step_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = _when(nullable=False)


# --- idempotency --------------------------------------------------------------------------------------------


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    tenant_id: str = Field(default=DEFAULT_TENANT, primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    job_id: str = Field(
        sa_column=Column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: datetime = _when(nullable=False)


# --- tenants, keys and limits -------------------------------------------------------------------------------


class Tenant(SQLModel, table=True):
    """Who owns jobs, files and keys. ``limit_*`` override the settings' defaults (None: the default)."""

    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    created_at: datetime = _when(nullable=False)
    limit_requests_per_minute: int | None = None
    limit_submits_per_minute: int | None = None
    limit_jobs_per_day: int | None = None
    limit_running_jobs: int | None = None


class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 is stored; ``prefix`` is its visible start."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(
        sa_column=Column(String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    prefix: str = Field(max_length=16)
    secret_hash: str = Field(max_length=64, unique=True)
    name: str | None = Field(default=None, max_length=200)
    scopes: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    operator: bool = False
    created_at: datetime = _when(nullable=False)
    expires_at: datetime | None = _when()
    last_used_at: datetime | None = _when()
    revoked_at: datetime | None = _when()


class RateCounter(SQLModel, table=True):
    """How many times a tenant hit one limit in one window (``window`` = start, in seconds since the epoch)."""

    __tablename__ = "rate_counters"

    tenant_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=32)
    window: int = Field(primary_key=True)
    count: int = 0


# --- public shapes ------------------------------------------------------------------------------------------


class FilePublic(SQLModel):
    id: str
    url: str
    content_type: str
    bytes: int
    sha256: str
    kind: FileKind


class JobError(SQLModel):
    title: str
    detail: str = ""
    step_id: str | None = None


class StepError(SQLModel):
    title: str
    detail: str = ""
    retryable: bool = False


class JobUsage(SQLModel):
    seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class StepItems(SQLModel):
    """How a map step's items stand."""

    total: int
    succeeded: int
    failed: int
    running: int


class StepPublic(SQLModel):
    id: str = Field(description="The step's id; a map step's item is ``<step>[<index>]``, e.g. ``draw[3]``")
    parent: str | None = Field(description="For a map step's item: the map step's id (else null)")
    index: int | None = Field(description="For a map step's item: its 0-based index (else null)")
    items: StepItems | None = Field(description="For a map step: how its items stand (null for other steps)")
    worker: str = Field(description="The worker capability, or ``transform:<name>`` for a gateway transform")
    status: StepStatus
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    backend: str | None
    model: str | None
    placeholder: bool
    fallback: bool = Field(description="True when the step failed and its on_error outputs were used instead")
    outputs: dict[str, Any]
    error: StepError | None
    usage: dict[str, Any] | None


class JobPublic(JobBase):
    id: str
    status: JobStatus
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: JobError | None
    steps: list[StepPublic]
    usage: JobUsage
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class JobCreate(JobBase):
    """``POST /v1/jobs`` JSON body: file inputs are given as upload ids from ``POST /v1/files``."""

    inputs: dict[str, Any] = Field(default_factory=dict)


class JobList(SQLModel):
    items: list[JobPublic]
    next_cursor: str | None


class EventPublic(SQLModel):
    seq: int
    job_id: str
    type: EventType
    step_id: str | None = None
    status: str | None = None
    attempt: int | None = None
    detail: str | None = None
    at: datetime


def _table(model: type[SQLModel]) -> Table:
    """A table model's Core table (SQLModel does not type ``__table__``)."""
    return model.__table__  # type: ignore[attr-defined]


#: Core tables for hot-path statements, one name per table.
JOBS = _table(Job)
STEPS = _table(Step)
EVENTS = _table(JobEvent)
FILES = _table(FileRecord)
IDEMPOTENCY = _table(IdempotencyKey)
TENANTS = _table(Tenant)
API_KEYS = _table(ApiKey)
RATE_COUNTERS = _table(RateCounter)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """:func:`as_utc` for a column that is never NULL."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
