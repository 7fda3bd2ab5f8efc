"""``/v1/jobs``: submit (JSON or multipart, idempotent), list, read, cancel. Routes only; the work is in
``api/submit.py`` and ``store/jobs.py``. No route ever calls a worker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from gateway.api.deps import BatcherDep, EngineDep, RegistryDep, RunnerDep, SettingsDep
from gateway.api.problems import problems
from gateway.api.submit import parse_submission
from gateway.files import delete_stored
from gateway.store import jobs as store
from gateway.store.models import JobCreate, JobList, JobPublic, JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": JobCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["pipeline"],
                    "properties": {"pipeline": {"type": "string"}},
                    "additionalProperties": {
                        "description": "One field per pipeline input; image/audio inputs as files",
                        "oneOf": [{"type": "string"}, {"type": "string", "format": "binary"}],
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    name="createJob",
    openapi_extra=_CREATE_BODY,
    responses=problems(400, 404, 413, 415, 422),
)
async def create_job(
    request: Request,
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    registry: RegistryDep,
    batcher: BatcherDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobPublic:
    """Queue a job. Repeating a request with the same ``Idempotency-Key`` returns the same job."""
    submission = await parse_submission(request, engine=engine, settings=settings, registry=registry)
    new = store.NewJob(
        pipeline=submission.spec.name,
        inputs=submission.inputs,
        steps=[(step.id, step.worker) for step in submission.spec.steps],
        uploads=submission.upload_rows(),
    )
    try:
        job, created = await store.create_job(
            engine, new=new, idempotency_key=idempotency_key, batcher=batcher, files=submission.files
        )
    except BaseException:
        for stored in submission.uploads:
            delete_stored(settings.files_root, stored)
        raise
    if not created:
        for stored in submission.uploads:  # a replay: the first request's files are the job's
            delete_stored(settings.files_root, stored)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get("", response_model=JobList, name="listJobs", responses=problems(400, 422))
async def list_jobs(
    engine: EngineDep,
    status: JobStatus | None = None,
    pipeline: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> JobList:
    """Jobs, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    items, next_cursor = await store.list_jobs(
        engine, status=status, pipeline=pipeline, limit=limit, cursor=cursor
    )
    return JobList(items=items, next_cursor=next_cursor)


@router.get("/{job_id}", response_model=JobPublic, name="getJob", responses=problems(404))
async def get_job(job_id: str, engine: EngineDep) -> JobPublic:
    """One job with its steps, outputs and usage."""
    return await store.get_job(engine, job_id=job_id)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobPublic,
    name="cancelJob",
    responses=problems(404, 409),
)
async def cancel_job(job_id: str, engine: EngineDep, runner: RunnerDep) -> JobPublic:
    """Cancel a queued or running job: no further steps start and the in-flight worker call is aborted."""
    canceled_now = await store.request_cancel(engine, job_id=job_id)
    if not canceled_now and runner is not None:
        runner.cancel_now(job_id)
    return await store.get_job(engine, job_id=job_id)
