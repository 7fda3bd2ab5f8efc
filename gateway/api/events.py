"""``/v1/jobs/{id}/events``: the job's event log as Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.api.deps import EngineDep, HubDep, SettingsDep
from gateway.api.event_stream import JobEventStream
from gateway.api.problems import problems
from gateway.api.security import AUTH_PROBLEMS, JobsRead
from gateway.auth import Principal
from gateway.errors import BadRequestError, RateLimitedError
from gateway.events import EventHub
from gateway.settings import Settings
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

#: Retry-After of a 429 for too many open streams: streams end when their jobs do.
_STREAMS_RETRY_SECONDS = 5


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


def _check_stream_caps(hub: EventHub, settings: Settings, tenant_id: str) -> None:
    """429 when this process, or this tenant on it, already holds its cap of open streams."""
    per_process, per_tenant = settings.sse_max_streams, settings.sse_max_streams_per_tenant
    if per_process and hub.subscribers() >= per_process:
        detail = f"this gateway process already holds its limit of {per_process} open event streams"
    elif per_tenant and hub.subscribers(tenant_id) >= per_tenant:
        detail = f"the tenant already holds its limit of {per_tenant} open event streams on this process"
    else:
        return
    raise RateLimitedError(
        f"{detail}; close one, or try again later", headers={"Retry-After": str(_STREAMS_RETRY_SECONDS)}
    )


@router.get(
    "/{job_id}/events",
    name="streamJobEvents",
    response_class=JobEventStream,
    responses={
        200: {
            "description": "text/event-stream; each event's data is an EventPublic",
            "content": {"text/event-stream": {"schema": _EVENT_SCHEMA}},
        },
        **problems(400, 404, 422, s400="`Last-Event-ID` is not an event's id"),
        **AUTH_PROBLEMS,
        429: {
            **AUTH_PROBLEMS[429],
            "description": AUTH_PROBLEMS[429]["description"]
            + "; or this process (`MODALINE_SSE_MAX_STREAMS`) or the tenant on it "
            "(`MODALINE_SSE_MAX_STREAMS_PER_TENANT`) already holds its cap of open streams",
        },
    },
)
async def stream_job_events(
    job_id: str,
    principal: JobsRead,
    engine: EngineDep,
    hub: HubDep,
    settings: SettingsDep,
    last_event_id: Annotated[
        str,
        Header(
            description="Resume after this event (its `seq`); EventSource sends it when it reconnects",
            json_schema_extra=_EVENT_ID_SCHEMA,
        ),
    ] = "",
) -> JobEventStream:
    """Every event of the job, then new ones as they happen; ends after the job's terminal event, or when
    the job is deleted.

    A stream that falls too far behind is closed with a comment saying so: reconnect with
    `Last-Event-ID` (EventSource does) to resume where it stopped."""
    return await open_stream(principal, engine, hub, settings, job_id=job_id, last_event_id=last_event_id)


async def open_stream(
    principal: Principal,
    engine: AsyncEngine,
    hub: EventHub,
    settings: Settings,
    *,
    job_id: str,
    last_event_id: str,
) -> JobEventStream:
    """The stream of ``job_id`` for ``principal`` (already authenticated, with ``jobs:read``), or the error
    to answer: 400 for a bad Last-Event-ID, 404 for a job the tenant does not have, 429 at a stream cap.
    The route and the fast path (``gateway/api/stream_fast_path.py``) both open streams here."""
    after = _last_seen(last_event_id)
    tenant_id = principal.tenant_id
    status = await job_status(engine, tenant_id=tenant_id, job_id=job_id)  # 404 before the stream starts
    subscription = None
    if not is_terminal(status):  # a finished job's events are all in the log: replay them, no hub
        _check_stream_caps(hub, settings, tenant_id)
        subscription = hub.subscribe(
            tenant_id=tenant_id, job_id=job_id, max_pending=settings.sse_queue_events
        )
    return JobEventStream(
        engine=engine,
        subscription=subscription,
        settled=hub.settled,
        tenant_id=tenant_id,
        job_id=job_id,
        after=after,
        ping_seconds=settings.sse_ping_seconds,
        send_timeout=settings.sse_send_timeout_seconds,
    )
