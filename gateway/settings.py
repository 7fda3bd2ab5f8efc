"""Gateway settings: one class, read from the environment when :func:`load_settings` is called.

Names follow ``docs/conventions.md``: prefix ``MODALINE_``, except ``DATABASE_URL`` (the usual unprefixed
name, ``MODALINE_DATABASE_URL`` also works) and ``PORT``. Nothing is read at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workers.kit.contract import CAPABILITIES, Capability
from workers.kit.storage import StorageConfigError, parse_files_url

Role = Literal["all", "api", "runner"]
AuthMode = Literal["keys", "off"]
FilesDownload = Literal["stream", "redirect"]
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_DB_SCHEMES = ("sqlite+aiosqlite", "postgresql+psycopg")


class Settings(BaseSettings):
    """Everything the gateway (API and runner) can be told from outside."""

    model_config = SettingsConfigDict(env_prefix="MODALINE_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite+aiosqlite:///./data/modaline.db",
        validation_alias=AliasChoices("MODALINE_DATABASE_URL", "DATABASE_URL"),
    )
    files_root: Path = Path("./data/files")
    files_url: str | None = Field(
        default=None,
        description="s3://bucket/prefix: files on object storage (AWS_* variables); unset: files_root",
    )
    files_download: FilesDownload = Field(
        default="stream",
        description="Object storage only: stream downloads through the gateway, or redirect to a presigned URL",
    )
    files_presign_seconds: int = Field(default=300, ge=10, le=7 * 86_400)
    role: Role = "all"
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Log lines as JSON objects (job_id, step_id, trace_id) or text for a terminal",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, validation_alias=AliasChoices("PORT", "MODALINE_PORT"))
    pipelines_dir: Path | None = None
    ui_dir: Path = Path("frontend/dist")
    max_upload_bytes: int = Field(
        default=50_000_000,
        ge=1024,
        le=2 * 1024**3,
        description="The one upload limit; /v1/pipelines serves it (or a pipeline's smaller max_bytes)",
    )

    llm_url: str = "http://127.0.0.1:8101"
    image_url: str = "http://127.0.0.1:8102"
    stt_url: str = "http://127.0.0.1:8103"
    tts_url: str = "http://127.0.0.1:8104"
    cyclegan_url: str = "http://127.0.0.1:8105"

    # Runner knobs.
    runner_concurrency: int = Field(default=512, ge=1, le=20_000, description="Jobs one runner holds at once")
    runner_claim_batch: int = Field(default=64, ge=1, le=1_000)
    runner_poll_seconds: float = Field(default=0.2, gt=0, le=30)
    lease_seconds: float = Field(default=30.0, ge=1, le=3_600)
    heartbeat_seconds: float = Field(default=5.0, gt=0, le=600)
    cancel_poll_seconds: float = Field(default=0.25, gt=0, le=30)
    retry_base_seconds: float = Field(default=0.5, ge=0, le=60)
    retry_cap_seconds: float = Field(default=30.0, ge=0, le=3_600)
    default_max_attempts: int = Field(default=3, ge=1, le=20)
    map_max_items: int = Field(default=1_000, ge=1, le=100_000, description="Items one map step may run")
    step_timeout_seconds: float = Field(default=300.0, gt=0, le=86_400)
    worker_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    worker_max_connections: int = Field(default=1024, ge=1, le=20_000, description="Per worker")
    write_batch_max: int = Field(default=2_000, ge=1, le=100_000)
    stream_llm_steps: bool = Field(
        default=True, description="Ask llm workers for streamed runs: their text as step.delta events"
    )
    delta_flush_chars: int = Field(
        default=32, ge=1, le=100_000, description="A step.delta event is written once this much text waits"
    )
    delta_flush_seconds: float = Field(
        default=0.05, ge=0, le=10, description="...or once its first piece has waited this long"
    )
    runner_max_crashes: int = Field(
        default=3, ge=1, le=100, description="Runner crashes on one job before it fails as an internal error"
    )
    crash_pause_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3_600,
        description="Pause before a crashed job goes back to the queue (x crashes)",
    )
    # Identity and limits (docs/auth.md).
    auth: AuthMode | None = Field(default=None, description="keys | off; unset: off on loopback, else keys")
    signing_key: SecretStr | None = Field(
        default=None, description="One key, or two comma-separated (rotation)"
    )
    bootstrap_admin_key: SecretStr | None = Field(default=None, description="An operator key, stored hashed")
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=60, description="How long a key check is reused")
    signed_url_seconds: int = Field(default=3_600, ge=60, le=7 * 86_400)
    limit_requests_per_minute: int = Field(default=600, ge=0, description="Per tenant; 0 = unlimited")
    limit_submits_per_minute: int = Field(default=60, ge=0, description="Per tenant; 0 = unlimited")
    limit_jobs_per_day: int = Field(default=5_000, ge=0, description="Per tenant; 0 = unlimited")
    limit_running_jobs: int = Field(default=20, ge=0, description="Per tenant; 0 = unlimited")
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed by CORS; none by default"
    )
    # Data lifecycle (the janitor runs in the runner role).
    retention_days: float | None = Field(
        default=None, gt=0, description="Finished jobs and their files are deleted this long after finishing"
    )
    upload_ttl_hours: float | None = Field(
        default=24.0, gt=0, description="Uploads no job uses are deleted this long after upload"
    )
    janitor_interval_seconds: float = Field(default=60.0, gt=0, le=86_400)
    janitor_batch: int = Field(default=100, ge=1, le=10_000, description="Rows per janitor transaction")
    min_free_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=0,
        description="A directory files root with less free space refuses submits and uploads (507); 0 = off",
    )
    sse_ping_seconds: float = Field(default=15.0, gt=0, le=300)
    wait_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=30,
        description="How often a waiting request (Prefer: wait, the OpenAI routes) re-reads its job when no "
        "runner in this process announces a change",
    )
    openai_wait_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3_600,
        description="How long an OpenAI-compatible request waits for its job before answering 504",
    )
    sse_poll_seconds: float = Field(
        default=0.5, gt=0, le=30, description="The event hub's safety-net poll (it is woken on commits too)"
    )
    sse_listen: bool = Field(
        default=True,
        description="PostgreSQL: LISTEN for commits of other processes (off: the poll alone, e.g. behind "
        "a transaction-pooling PgBouncer, which cannot LISTEN)",
    )
    sse_max_streams: int = Field(
        default=10_000, ge=0, description="Open event streams per process; 0 = no cap"
    )
    sse_max_streams_per_tenant: int = Field(
        default=1_000, ge=0, description="Open event streams per tenant on one process; 0 = no cap"
    )
    sse_queue_events: int = Field(
        default=1_000, ge=1, le=1_000_000, description="Events a stream may fall behind before it is cut off"
    )
    sse_send_timeout_seconds: float = Field(
        default=30.0, gt=0, le=3_600, description="A client that takes no data this long is cut off"
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(tuple(f"{scheme}://" for scheme in _DB_SCHEMES)):
            raise ValueError(
                f"database URL must start with one of {', '.join(_DB_SCHEMES)}:// (got {value!r})"
            )
        return value

    @field_validator("files_url")
    @classmethod
    def _files_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            parse_files_url(value)
        except StorageConfigError as exc:
            raise ValueError(exc.detail) from None
        return value.strip()

    @field_validator("retention_days", "upload_ttl_hours", mode="before")
    @classmethod
    def _blank_is_forever(cls, value: object) -> object:
        """``MODALINE_RETENTION_DAYS=`` (empty) means unset: keep forever."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("signing_key", "bootstrap_admin_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty secret (``MODALINE_SIGNING_KEY=``, a Secret with an empty value) means unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_url", "image_url", "stt_url", "tts_url", "cyclegan_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"worker URL must be http(s)://host[:port], got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be at most half of lease_seconds "
                f"({self.lease_seconds}), or a live runner would lose its jobs"
            )
        if self.files_download == "redirect" and self.files_url is None:
            raise ValueError(
                "MODALINE_FILES_DOWNLOAD=redirect needs object storage (MODALINE_FILES_URL=s3://…): "
                "a directory has no presigned URLs"
            )
        if self.retry_cap_seconds < self.retry_base_seconds:
            raise ValueError("retry_cap_seconds must not be below retry_base_seconds")
        if self.role != "api" and self.is_sqlite and ":memory:" in self.database_url:
            raise ValueError("an in-memory SQLite database cannot hold jobs across connections; use a file")
        return self

    @property
    def auth_mode(self) -> AuthMode:
        """``MODALINE_AUTH``, or when unset: ``off`` on a loopback address, ``keys`` on any other."""
        if self.auth is not None:
            return self.auth
        return "off" if self.loopback_only else "keys"

    @property
    def loopback_only(self) -> bool:
        """True when the gateway listens on this machine only."""
        return self.host in _LOOPBACK

    @property
    def allowed_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.database_url.startswith("sqlite")

    @property
    def runs_api(self) -> bool:
        """True when this process serves the public API."""
        return self.role in ("all", "api")

    @property
    def runs_runner(self) -> bool:
        """True when this process executes jobs."""
        return self.role in ("all", "runner")

    def worker_url(self, capability: Capability) -> str:
        """Base URL of one worker."""
        return str(getattr(self, f"{capability}_url"))

    def worker_urls(self) -> dict[Capability, str]:
        """Base URL of every worker."""
        return {cap: self.worker_url(cap) for cap in CAPABILITIES}


def load_settings() -> Settings:
    """Read the settings from the environment now (never at import time)."""
    return Settings()
