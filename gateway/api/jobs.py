"""``/v1/jobs``: submit (JSON or multipart, idempotent), list, read, cancel. Routes only; the work is in
``api/submit.py`` and ``store/jobs.py``. No route ever calls a worker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from gateway.api.deps import BatcherDep, EngineDep, HubDep, RegistryDep, RunnerDep, SettingsDep, StorageDep
from gateway.api.files import MAX_PARTS, MAX_TEXT_BYTES, ONE_PART
from gateway.api.problems import problems
from gateway.api.security import AUTH_PROBLEMS, JobsRead, JobsWrite, signed_job
from gateway.api.submit import parse_submission
from gateway.auth import Limiter
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
                    "properties": {
                        "pipeline": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 100,
                            "description": "A pipeline's name, from GET /v1/pipelines",
                        },
                        "inputs": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "contentSchema": {"type": "object"},
                            "description": "Optional: the non-file inputs as one JSON object",
                        },
                    },
                    "additionalProperties": {
                        **ONE_PART,
                        "description": "One field per pipeline input: a UTF-8 text field of at most "
                        f"{MAX_TEXT_BYTES} bytes, or for an image or audio input a file part with a filename, "
                        "in a format POST /v1/files takes",
                    },
                    "maxProperties": MAX_PARTS,
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
    responses=problems(
        400,
        404,
        413,
        415,
        422,
        s400="a multipart body that is not well-formed",
        s404="no pipeline has this name",
        s413="a JSON body over 2 MiB; a file over the upload limit, a text field over 1 MB or more than "
        "64 parts in a form",
        s415="a file part whose bytes are not a supported image or audio format",
        s422="inputs that do not fit the pipeline (each pipeline's inputs are in GET /v1/pipelines/{name}), "
        "an unknown file id, an empty file, or an Idempotency-Key reused with another request",
    )
    | AUTH_PROBLEMS
    | problems(
        429, s429="the tenant's submits-per-minute, jobs-per-day or requests-per-minute limit is used up"
    ),
)
async def create_job(
    request: Request,
    response: Response,
    principal: JobsWrite,
    engine: EngineDep,
    settings: SettingsDep,
    registry: RegistryDep,
    batcher: BatcherDep,
    storage: StorageDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobPublic:
    """Queue a job. Repeating a request with the same ``Idempotency-Key`` returns the same job."""
    limiter: Limiter = request.app.state.limiter
    await limiter.check(principal, "submits_per_minute")
    await limiter.check(principal, "jobs_per_day")
    submission = await parse_submission(
        request,
        tenant_id=principal.tenant_id,
        engine=engine,
        settings=settings,
        storage=storage,
        registry=registry,
    )
    new = store.NewJob(
        tenant_id=principal.tenant_id,
        pipeline=submission.spec.name,
        inputs=submission.inputs,
        steps=[(step.id, step.worker) for step in submission.spec.steps],
        uploads=submission.upload_rows(principal.tenant_id),
    )
    try:
        job, created = await store.create_job(
            engine, new=new, idempotency_key=idempotency_key, batcher=batcher, files=submission.files
        )
    except BaseException:
        for stored in submission.uploads:
            await delete_stored(storage, stored)
        raise
    if not created:
        for stored in submission.uploads:  # a replay: the first request's files are the job's
            await delete_stored(storage, stored)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return signed_job(job, request)


#: What a cursor looks like: ``next_cursor`` is unpadded URL-safe base64. Documented, not enforced here, so
#: any cursor this API did not issue keeps getting the same 400 "Bad cursor".
_CURSOR_SCHEMA = {"pattern": "^[A-Za-z0-9_-]*$"}


@router.get(
    "",
    response_model=JobList,
    name="listJobs",
    responses=problems(
        400,
        422,
        s400="`cursor` is not a `next_cursor` this API returned",
        s422="a query parameter outside its schema",
    )
    | AUTH_PROBLEMS,
)
async def list_jobs(
    request: Request,
    principal: JobsRead,
    engine: EngineDep,
    status: JobStatus | None = None,
    pipeline: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=500,
            description="The `next_cursor` of the previous page",
            json_schema_extra=_CURSOR_SCHEMA,
        ),
    ] = None,
) -> JobList:
    """The tenant's jobs, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    items, next_cursor = await store.list_jobs(
        engine, tenant_id=principal.tenant_id, status=status, pipeline=pipeline, limit=limit, cursor=cursor
    )
    return JobList(items=[signed_job(job, request) for job in items], next_cursor=next_cursor)


@router.get(
    "/{job_id}", response_model=JobPublic, name="getJob", responses=problems(404, 422) | AUTH_PROBLEMS
)
async def get_job(job_id: str, request: Request, principal: JobsRead, engine: EngineDep) -> JobPublic:
    """One job with its steps, outputs and usage."""
    return signed_job(await store.get_job(engine, tenant_id=principal.tenant_id, job_id=job_id), request)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobPublic,
    name="cancelJob",
    responses=problems(404, 409, 422, s409="the job has already finished") | AUTH_PROBLEMS,
)
async def cancel_job(
    job_id: str, request: Request, principal: JobsWrite, engine: EngineDep, runner: RunnerDep, hub: HubDep
) -> JobPublic:
    """Cancel a queued or running job: no further steps start and the in-flight worker call is aborted."""
    tenant_id = principal.tenant_id
    canceled_now = await store.request_cancel(engine, tenant_id=tenant_id, job_id=job_id)
    if canceled_now:
        hub.wake()  # its job.canceled event is committed
    elif runner is not None:
        runner.cancel_now(job_id)
    return signed_job(await store.get_job(engine, tenant_id=tenant_id, job_id=job_id), request)
