"""``/v1/jobs``: submit (JSON or multipart, idempotent), list, read, cancel. Routes only; the work is in
``api/submit.py`` and ``store/jobs.py``. No route ever calls a worker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from opentelemetry.trace import SpanKind

from gateway.api.deps import (
    BatcherDep,
    EngineDep,
    HubDep,
    RegistryDep,
    RunnerDep,
    SettingsDep,
    StorageDep,
    require_space,
)
from gateway.api.files import MAX_PARTS, MAX_TEXT_BYTES, ONE_PART
from gateway.api.problems import problems
from gateway.api.retention import with_expiry
from gateway.api.security import AUTH_PROBLEMS, JobsRead, JobsWrite, signed_job
from gateway.api.submit import check_submit_limits, parse_submission, submit_job
from gateway.api.waiting import preferred_wait, wait_for_end
from gateway.janitor import drain_entries
from gateway.store import jobs as store
from gateway.store import lifecycle
from gateway.store.models import JobCreate, JobList, JobPublic, JobStatus, is_terminal
from workers.kit.telemetry import extract, set_attributes, span

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


_JOB_HEADERS: dict[str, Any] = {
    "Location": {"description": "The job's URL", "schema": {"type": "string"}},
    "Preference-Applied": {
        "description": "`wait=N` when the request waited (N after capping at 60)",
        "schema": {"type": "string"},
    },
}


_WAIT_ANSWERS: dict[int | str, dict[str, Any]] = {
    201: {
        "model": JobPublic,
        "description": "With `Prefer: wait`: the job ended (succeeded, failed or canceled) within the wait; "
        "the whole job",
        "headers": _JOB_HEADERS,
    },
    202: {
        "description": "The job is queued (or, with `Prefer: wait`, still unfinished when the wait ran out); "
        "poll `Location` or stream its events",
        "headers": _JOB_HEADERS,
    },
}


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    name="createJob",
    openapi_extra=_CREATE_BODY,
    responses=_WAIT_ANSWERS
    | problems(
        400,
        404,
        413,
        415,
        422,
        s400="a multipart body that is not well-formed; a `Prefer: wait=` that is not a whole number",
        s404="no pipeline has this name",
        s413="a JSON body over 2 MiB; a file over the upload limit, a text field over 1 MB or more than "
        "64 parts in a form",
        s415="a file part whose bytes are not a supported image or audio format",
        s422="inputs that do not fit the pipeline (each pipeline's inputs are in GET /v1/pipelines/{name}), "
        "an unknown file id, an empty file, or an Idempotency-Key reused with another request",
    )
    | AUTH_PROBLEMS
    | problems(
        429,
        507,
        s429="the tenant's submits-per-minute, jobs-per-day or requests-per-minute limit is used up",
        s507="the files root has less free space than MODALINE_MIN_FREE_BYTES: delete jobs or files first",
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
    hub: HubDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    prefer: Annotated[
        str | None,
        Header(
            max_length=100,
            description="`wait=N` (RFC 7240): hold the request until the job ends or N seconds pass "
            "(at most 60; a bare `wait` is 60). Ended: 201 with the whole job; else 202 as without it",
        ),
    ] = None,
) -> JobPublic:
    """Queue a job. Repeating a request with the same ``Idempotency-Key`` returns the same job.

    The answer shows the state the job was committed in: ``running`` when this process's runner took it
    at once, else ``queued``. With ``Prefer: wait=N`` the answer waits until the job has ended (``201``,
    the whole job) or N seconds have passed (``202``); ``Preference-Applied`` says that the wait was
    honoured.
    """
    wait = preferred_wait(prefer)  # a malformed Prefer is refused before anything is stored
    require_space(storage, settings)
    # The job's trace starts here (continuing the caller's traceparent, if any); the job stores this span's
    # traceparent so the runner that claims it continues the same trace.
    with span(
        "modaline.gateway",
        "POST /v1/jobs",
        kind=SpanKind.SERVER,
        parent=extract(request.headers),
        attributes={"http.request.method": "POST", "http.route": "/v1/jobs"},
    ) as current:
        await check_submit_limits(request, principal)
        submission = await parse_submission(
            request,
            tenant_id=principal.tenant_id,
            engine=engine,
            settings=settings,
            storage=storage,
            registry=registry,
        )
        job, created = await submit_job(
            request,
            principal,
            submission,
            engine=engine,
            batcher=batcher,
            storage=storage,
            idempotency_key=idempotency_key,
        )
        set_attributes(current, pipeline=submission.spec.name, job_id=job.id, replayed=not created)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait}"
        await wait_for_end(
            engine,
            hub,
            tenant_id=principal.tenant_id,
            job_id=job.id,
            within=wait,
            poll=settings.wait_poll_seconds,
            gone=request.is_disconnected,
        )
        job = await store.get_job(engine, tenant_id=principal.tenant_id, job_id=job.id)
        if is_terminal(job.status):
            response.status_code = 201
    [job] = await with_expiry([job], request, principal.tenant_id)
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
    items = await with_expiry(items, request, principal.tenant_id)
    return JobList(items=[signed_job(job, request) for job in items], next_cursor=next_cursor)


@router.get(
    "/{job_id}", response_model=JobPublic, name="getJob", responses=problems(404, 422) | AUTH_PROBLEMS
)
async def get_job(job_id: str, request: Request, principal: JobsRead, engine: EngineDep) -> JobPublic:
    """One job with its steps, outputs and usage; ``expires_at`` says when retention deletes it."""
    job = await store.get_job(engine, tenant_id=principal.tenant_id, job_id=job_id)
    [job] = await with_expiry([job], request, principal.tenant_id)
    return signed_job(job, request)


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
    job = await store.get_job(engine, tenant_id=tenant_id, job_id=job_id)
    [job] = await with_expiry([job], request, tenant_id)
    return signed_job(job, request)


@router.delete(
    "/{job_id}",
    status_code=204,
    response_class=Response,
    name="deleteJob",
    responses=problems(
        404,
        409,
        422,
        s404="no job with this id (also the answer to a second delete: the job is gone)",
        s409="the job is queued or running: cancel it first (POST /v1/jobs/{job_id}/cancel)",
    )
    | AUTH_PROBLEMS,
)
async def delete_job(
    job_id: str,
    principal: JobsWrite,
    engine: EngineDep,
    storage: StorageDep,
    hub: HubDep,
) -> Response:
    """Delete a finished job and what is only its own: steps, events, outputs, and uploaded inputs no
    other job uses. A queued or running job is refused (409): cancel it first."""
    deleted = await lifecycle.delete_job(engine, tenant_id=principal.tenant_id, job_id=job_id)
    hub.end_jobs([job_id])  # an open event stream of the job ends
    await drain_entries(engine, storage, deleted.outbox)
    return Response(status_code=204)
