"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text

from gateway.api.deps import EngineDep, HubDep, MetricsDep, RunnerDep, SettingsDep, StorageDep
from gateway.api.problems import problem_response, problems
from gateway.api.security import MetricsRead
from gateway.files import StorageError
from gateway.files.space import free_bytes, low_space
from gateway.store.jobs import job_counts, oldest_queued_age
from gateway.store.lifecycle import stored_counts

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    runner: str
    files: str = Field(description="Where file bytes live: directory or s3 (checked on every call)")
    auth: str = Field(description="keys, off, or 'off (exposed)': off on a non-loopback address")
    disk: str = Field(
        default="ok",
        description="ok, or what is wrong with the files root's free space (new jobs and uploads then get "
        "507; the gateway stays ready so that jobs can still be deleted to free space)",
    )


@router.get("/healthz", response_model=Health, name="healthz")
async def healthz() -> dict[str, str]:
    """200 while the process lives."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, name="readyz", responses=problems(503))
async def readyz(engine: EngineDep, runner: RunnerDep, settings: SettingsDep, storage: StorageDep) -> Any:
    """200 when the database and the file storage answer and, in a process that runs jobs, the runner is alive."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return problem_response(503, "Not ready", f"database unreachable: {type(exc).__name__}: {exc}")
    runner_state = "disabled"
    if settings.runs_runner:
        if runner is None or not runner.alive:
            return problem_response(503, "Not ready", "the job runner is not running")
        runner_state = "alive"
    try:
        await storage.acheck()
    except StorageError as exc:
        return problem_response(503, "Not ready", f"file storage ({storage.kind}): {exc.detail}")
    auth = settings.auth_mode if settings.auth_mode == "keys" or settings.loopback_only else "off (exposed)"
    disk = low_space(storage, settings.min_free_bytes) or "ok"
    return {
        "status": "ready",
        "database": "ok",
        "runner": runner_state,
        "files": storage.kind,
        "auth": auth,
        "disk": disk,
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(
    _: MetricsRead,
    engine: EngineDep,
    metrics: MetricsDep,
    runner: RunnerDep,
    settings: SettingsDep,
    storage: StorageDep,
    hub: HubDep,
) -> Response:
    """Prometheus text: jobs by status, the queue and files by origin and kind (counted now), free space,
    job and step latency, worker errors, retries, fallbacks, lease takeovers, janitor deletions,
    open event streams, and whether this process's runner is alive."""
    metrics.set_job_counts(await job_counts(engine))
    metrics.set_queue_age(await oldest_queued_age(engine))
    metrics.runner_up.set(1 if settings.runs_runner and runner is not None and runner.alive else 0)
    metrics.set_stored([(c.origin, c.kind, c.files, c.bytes) for c in await stored_counts(engine)])
    if (free := free_bytes(storage)) is not None:
        metrics.free_bytes.set(free)
    metrics.set_hub(hub.subscribers(), hub.delivered)
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
