"""``/v1/jobs/{id}/events``: the job's event log as Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from sqlalchemy.ext.asyncio import AsyncEngine
from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway.api.deps import EngineDep, NotifierDep, SettingsDep
from gateway.api.problems import problems
from gateway.api.security import AUTH_PROBLEMS, JobsRead
from gateway.errors import BadRequestError, NotFoundError
from gateway.notify import Notifier
from gateway.store.events import events_after
from gateway.store.jobs import job_status
from gateway.store.models import EventPublic, is_terminal

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

#: One server-sent event as the document states it: its ``data`` is an EventPublic as JSON.
_EVENT_SCHEMA = {
    "type": "object",
    "required": ["data", "event", "id"],
    "properties": {
        "event": {"type": "string", "description": "The event's type"},
        "id": {"type": "string", "description": "The event's `seq`, for Last-Event-ID"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": EventPublic.model_json_schema(),
        },
    },
}

_TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.canceled"})


#: A Last-Event-ID this stream accepts: an event's ``seq`` as it was sent, digits only (at most 18, so it
#: fits the database's 64-bit integers).
_EVENT_ID = re.compile(r"[0-9]{1,18}")
_EVENT_ID_SCHEMA = {"pattern": f"^[ \\t]*({_EVENT_ID.pattern})?[ \\t]*$"}


def _last_seen(header: str) -> int:
    value = header.strip(" \t")
    if not value:
        return 0
    if _EVENT_ID.fullmatch(value):
        return int(value)
    if value.startswith("-") and value[1:].isdigit():
        raise BadRequestError("Last-Event-ID must not be negative")
    raise BadRequestError(f"Last-Event-ID must be an event's integer id, got {header!r}")


async def _stream(
    engine: AsyncEngine, notifier: Notifier, tenant_id: str, job_id: str, after: int, poll: float
) -> AsyncIterator[ServerSentEvent]:
    terminal = False
    while True:
        events = await events_after(engine, tenant_id=tenant_id, job_id=job_id, after=after)
        for event in events:
            after = event.seq
            yield ServerSentEvent(data=event.model_dump_json(), event=event.type, id=str(event.seq))
            if event.type in _TERMINAL_EVENTS:
                return
        if events:
            continue
        if terminal:
            return  # the job had finished before that (empty) read: nothing more will come
        # Read the status, then the events once more: a job that finished between the two reads has its
        # terminal event (written in the same transaction as its status) in the second one.
        try:
            terminal = is_terminal(await job_status(engine, tenant_id=tenant_id, job_id=job_id))
        except NotFoundError:
            return  # the job was deleted: nothing more will come

        if not terminal:
            await notifier.wait(job_id, poll)


@router.get(
    "/{job_id}/events",
    name="streamJobEvents",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "text/event-stream; each event's data is an EventPublic",
            "content": {"text/event-stream": {"schema": _EVENT_SCHEMA}},
        },
        **problems(400, 404, 422, s400="`Last-Event-ID` is not an event's id"),
        **AUTH_PROBLEMS,
    },
)
async def stream_job_events(
    job_id: str,
    principal: JobsRead,
    engine: EngineDep,
    notifier: NotifierDep,
    settings: SettingsDep,
    last_event_id: Annotated[
        str,
        Header(
            description="Resume after this event (its `seq`); EventSource sends it when it reconnects",
            json_schema_extra=_EVENT_ID_SCHEMA,
        ),
    ] = "",
) -> EventSourceResponse:
    """Every event of the job, then new ones as they happen; ends after the job's terminal event, or when
    the job is deleted."""
    after = _last_seen(last_event_id)
    tenant_id = principal.tenant_id
    await job_status(engine, tenant_id=tenant_id, job_id=job_id)  # 404 before the stream starts
    return EventSourceResponse(
        _stream(engine, notifier, tenant_id, job_id, after, settings.sse_poll_seconds),
        ping=settings.sse_ping_seconds,
    )
