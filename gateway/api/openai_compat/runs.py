"""Every OpenAI-compatible call is a durable Modaline job: submitted through the same path as
``POST /v1/jobs`` (same limits, same tenant), then awaited without holding a connection or a runner slot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api.deps import BatcherDep, EngineDep, HubDep, RegistryDep, SettingsDep, StorageDep
from gateway.api.security import JobsWrite
from gateway.api.submit import Submission, check_submit_limits, submit_job
from gateway.api.waiting import wait_for_end
from gateway.auth import Principal
from gateway.errors import InvalidInputError, JobFailedError, JobTimeoutError
from gateway.events import EventHub
from gateway.files import FileStorage, StoredFile
from gateway.pipelines import InputValidationError, PipelineRegistry, PipelineSpec, validate_job_inputs
from gateway.settings import Settings
from gateway.store import jobs as store
from gateway.store.batch import InsertBatcher
from gateway.store.files import get_file
from gateway.store.models import JobPublic, is_terminal

#: A failed job is an answer, not a transient fault: the SDKs must not submit it again on their own.
NO_RETRY = {"x-should-retry": "false"}


@dataclass
class Calls:
    """What an OpenAI route needs to run its job: the caller and the app's engine, event hub, storage…"""

    request: Request
    principal: Principal
    engine: AsyncEngine
    settings: Settings
    registry: PipelineRegistry
    batcher: InsertBatcher
    storage: FileStorage
    hub: EventHub

    async def start(
        self,
        spec: PipelineSpec,
        inputs: dict[str, Any],
        *,
        params: dict[str, str],
        uploads: Sequence[StoredFile] = (),
        files: dict[str, dict[str, Any]] | None = None,
    ) -> JobPublic:
        """Check the tenant's limits and the inputs, then store the job; ``params`` names the request
        parameter each pipeline input came from, so an input error points at what the caller sent."""
        await check_submit_limits(self.request, self.principal)
        try:
            cleaned = validate_job_inputs(spec, inputs)
        except InputValidationError as exc:
            errors = [
                {"field": params.get(e["field"], e["field"]), "message": e["message"]} for e in exc.errors
            ]
            raise InvalidInputError(
                "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
            ) from None
        submission = Submission(spec, cleaned, list(uploads), files or {})
        job, _ = await submit_job(
            self.request,
            self.principal,
            submission,
            engine=self.engine,
            batcher=self.batcher,
            storage=self.storage,
        )
        return job

    async def ended(self, job_id: str) -> JobPublic:
        """Wait for the job to end and return it: it succeeded, or this raises (502 failed or canceled,
        504 still running after ``MODALINE_OPENAI_WAIT_SECONDS``; the job stays in the history)."""
        await wait_for_end(
            self.engine,
            self.hub,
            tenant_id=self.principal.tenant_id,
            job_id=job_id,
            within=self.settings.openai_wait_seconds,
            poll=self.settings.wait_poll_seconds,
            gone=self.request.is_disconnected,
        )
        job = await self.job(job_id)
        check_succeeded(job, self.settings.openai_wait_seconds)
        return job

    async def job(self, job_id: str) -> JobPublic:
        return await store.get_job(self.engine, tenant_id=self.principal.tenant_id, job_id=job_id)

    async def output_bytes(self, job: JobPublic, output: str) -> tuple[bytes, str]:
        """The bytes and content type of a file output of the caller's job (read from the file storage)."""
        public = job.outputs.get(output)
        if not isinstance(public, dict) or "id" not in public:
            raise JobFailedError(f"job {job.id} gave no file as its {output!r} output", code="job_failed")
        row = await get_file(self.engine, tenant_id=self.principal.tenant_id, file_id=public["id"])
        data = b"".join([chunk async for chunk in await self.storage.aread_chunks(row.path)])
        return data, str(row.content_type)

    def file_url(self, file_id: str) -> str:
        """An absolute download URL of the caller's file: signed (expiring) while keys are on."""
        path = f"/v1/files/{file_id}"
        if self.settings.auth_mode == "keys":
            path = self.request.app.state.signer.url(file_id)
        return str(self.request.base_url).rstrip("/") + path


def check_succeeded(job: JobPublic, waited: float) -> None:
    """Nothing for a succeeded job; the error a caller gets for any other."""
    if job.status == "succeeded":
        return
    if not is_terminal(job.status):
        raise JobTimeoutError(
            f"job {job.id} is still {job.status} after {waited:g} s; it goes on: follow it at "
            f"/v1/jobs/{job.id}",
            code="job_timeout",
            headers=NO_RETRY,
        )
    why = f": {job.error.title}" + (f" ({job.error.detail})" if job.error.detail else "") if job.error else ""
    raise JobFailedError(
        f"job {job.id} {job.status}{why}; see /v1/jobs/{job.id}",
        code=f"job_{job.status}",
        headers=NO_RETRY,
    )


async def _calls(
    request: Request,
    principal: JobsWrite,
    engine: EngineDep,
    settings: SettingsDep,
    registry: RegistryDep,
    batcher: BatcherDep,
    storage: StorageDep,
    hub: HubDep,
) -> Calls:
    return Calls(request, principal, engine, settings, registry, batcher, storage, hub)


CallsDep = Annotated[Calls, Depends(_calls)]


def job_headers(job: JobPublic) -> dict[str, str]:
    """Where the job behind an answer lives (it is in the history like any other)."""
    return {"Modaline-Job-Id": job.id}
