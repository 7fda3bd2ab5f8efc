"""Turning a create-job request (JSON or multipart) into validated inputs, with file inputs as FileRefs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api.files import MAX_PARTS, MAX_TEXT_BYTES
from gateway.api.problems import validation_errors
from gateway.auth import Limiter, Principal
from gateway.errors import InvalidInputError, PayloadTooLargeError
from gateway.files import FileStorage, MultipartForm, StoredFile, delete_stored, receive_multipart
from gateway.pipelines import PipelineRegistry, PipelineSpec, validate_job_inputs
from gateway.settings import Settings
from gateway.store import jobs as store
from gateway.store.batch import InsertBatcher
from gateway.store.files import get_files
from gateway.store.models import JobCreate, JobPublic, utcnow
from gateway.store.render import file_public
from gateway.store.rows import FileRow
from workers.kit.telemetry import current_traceparent

FILE_TYPES = ("image", "audio")


@dataclass
class Submission:
    """A create request, parsed: the pipeline, its cleaned inputs, and files uploaded with it."""

    spec: PipelineSpec
    inputs: dict[str, Any]
    uploads: list[StoredFile] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path → FilePublic of each file input

    @property
    def file_ids(self) -> list[str]:
        """Ids of every registered file the job takes as an input (linked to it in ``job_files``)."""
        return sorted({str(public["id"]) for public in self.files.values()})

    def upload_rows(self, tenant_id: str) -> list[FileRow]:
        """files rows for the files uploaded with the request, owned by ``tenant_id``."""
        return [
            {
                "id": f.id,
                "tenant_id": tenant_id,
                "path": f.path,
                "content_type": f.content_type,
                "kind": f.kind,
                "bytes": f.bytes,
                "sha256": f.sha256,
                "original_name": f.original_name,
                "job_id": None,
                "step_id": None,
                "created_at": utcnow(),
            }
            for f in self.uploads
        ]


def file_ref(record: Any) -> dict[str, Any]:
    """The worker-contract reference to a stored file (row or StoredFile)."""
    return {
        "file": record.path,
        "content_type": record.content_type,
        "bytes": record.bytes,
        "sha256": record.sha256,
    }


def _pipeline(registry: PipelineRegistry, name: str) -> PipelineSpec:
    from gateway.api.deps import pipeline_named

    return pipeline_named(registry, name)


async def parse_json(
    request: Request, *, tenant_id: str, engine: AsyncEngine, registry: PipelineRegistry
) -> Submission:
    """``{"pipeline", "inputs"}`` with file inputs given as ids of earlier uploads."""
    try:
        body = JobCreate.model_validate_json(await _capped_body(request))
    except ValidationError as exc:
        errors = validation_errors(exc.errors())
        raise InvalidInputError(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        ) from None
    spec = _pipeline(registry, body.pipeline)
    inputs = dict(body.inputs)
    files = await _resolve_file_ids(spec, inputs, engine, tenant_id)
    return Submission(spec, validate_job_inputs(spec, inputs), files=files)


#: A JSON create request carries text and file ids, never file bytes: anything bigger is a mistake.
MAX_JSON_BYTES = 2 * 1024 * 1024


async def _capped_body(request: Request) -> bytes:
    """The request body, refusing (413) more than :data:`MAX_JSON_BYTES` without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise PayloadTooLargeError(
            f"a JSON job request may be at most {MAX_JSON_BYTES} bytes; upload files first"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise PayloadTooLargeError(f"a JSON job request may be at most {MAX_JSON_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _resolve_file_ids(
    spec: PipelineSpec, inputs: dict[str, Any], engine: AsyncEngine, tenant_id: str
) -> dict[str, dict[str, Any]]:
    wanted = {
        name: value
        for name, value in inputs.items()
        if name in spec.inputs and spec.inputs[name].type in FILE_TYPES
    }
    errors = [
        {"field": name, "message": "must be the id of a file uploaded with POST /v1/files"}
        for name, value in wanted.items()
        if value is not None and not isinstance(value, str)
    ]
    ids = [value for value in wanted.values() if isinstance(value, str) and value]
    rows = await get_files(engine, tenant_id=tenant_id, file_ids=ids)  # another tenant's: as if unknown
    for name, value in wanted.items():
        if isinstance(value, str) and value:
            if value in rows:
                inputs[name] = file_ref(rows[value])
            else:
                errors.append({"field": name, "message": f"no uploaded file with id {value!r}"})
    if errors:
        raise InvalidInputError("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return {row.path: file_public(row) for row in rows.values()}


async def parse_multipart(
    request: Request, *, settings: Settings, storage: FileStorage, registry: PipelineRegistry
) -> Submission:
    """A ``pipeline`` field and one field per input; image/audio inputs as file parts."""
    form = await receive_multipart(
        request,
        storage=storage,
        max_bytes=settings.max_upload_bytes,
        max_fields=MAX_PARTS,
        max_field_bytes=MAX_TEXT_BYTES,
    )
    uploads = list(form.files.values())
    try:
        return _submission_from_form(form, registry, uploads)
    except BaseException:
        for stored in uploads:
            await delete_stored(storage, stored)
        raise


def _submission_from_form(
    form: MultipartForm, registry: PipelineRegistry, uploads: list[StoredFile]
) -> Submission:
    fields = dict(form.fields)
    name = fields.pop("pipeline", "")
    if not name:
        raise InvalidInputError(
            "the form has no 'pipeline' field", errors=[{"field": "pipeline", "message": "is required"}]
        )
    spec = _pipeline(registry, name)
    inputs: dict[str, Any] = dict(fields)
    if "inputs" in inputs and "inputs" not in spec.inputs:
        inputs.update(_inputs_json(inputs.pop("inputs")))
    for field_name, stored in form.files.items():
        inputs[field_name] = file_ref(stored)
    files = {stored.path: file_public(stored) for stored in uploads}
    return Submission(spec, validate_job_inputs(spec, inputs), uploads, files)


def _inputs_json(raw: str) -> dict[str, Any]:
    """A multipart form may also carry the non-file inputs as one JSON ``inputs`` field."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"the 'inputs' field is not JSON: {exc}", errors=[{"field": "inputs", "message": "is not JSON"}]
        ) from None
    if not isinstance(value, dict):
        raise InvalidInputError(
            "the 'inputs' field must be a JSON object",
            errors=[{"field": "inputs", "message": "must be an object"}],
        )
    return value


async def parse_submission(
    request: Request,
    *,
    tenant_id: str,
    engine: AsyncEngine,
    settings: Settings,
    storage: FileStorage,
    registry: PipelineRegistry,
) -> Submission:
    """Dispatch on Content-Type: multipart/form-data or JSON."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await parse_multipart(request, settings=settings, storage=storage, registry=registry)
    return await parse_json(request, tenant_id=tenant_id, engine=engine, registry=registry)


async def submit_job(
    request: Request,
    principal: Principal,
    submission: Submission,
    *,
    engine: AsyncEngine,
    batcher: InsertBatcher,
    storage: FileStorage,
    idempotency_key: str | None = None,
) -> tuple[JobPublic, bool]:
    """Store the parsed request as a queued job of the caller's tenant; ``(job, created)``.

    Every way in (``POST /v1/jobs``, the OpenAI-compatible routes) goes through here, so each job is
    checked against the same limits and owned the same way. Files uploaded with the request are deleted
    when the job is not stored, or when the request replays an earlier one (that job has its own files).
    """
    new = store.NewJob(
        tenant_id=principal.tenant_id,
        pipeline=submission.spec.name,
        inputs=submission.inputs,
        steps=[(step.id, step.kind) for step in submission.spec.steps],
        map_steps=frozenset(step.id for step in submission.spec.steps if step.is_map),
        uploads=submission.upload_rows(principal.tenant_id),
        file_ids=submission.file_ids,
        traceparent=current_traceparent(),
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
    return job, created


async def check_submit_limits(request: Request, principal: Principal) -> None:
    """The tenant's submits-per-minute and jobs-per-day limits (429 when used up)."""
    limiter: Limiter = request.app.state.limiter
    await limiter.check(principal, "submits_per_minute")
    await limiter.check(principal, "jobs_per_day")
