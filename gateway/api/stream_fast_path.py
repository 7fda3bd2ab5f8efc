"""``GET /v1/jobs/{id}/events`` served in front of the router, so an open stream holds only its own state.

An SSE stream lives for hours; through FastAPI it keeps every layer of the request alive that long (the
``Request``, three ``AsyncExitStack``\\ s, the dependency results, the exception wrappers and the router's
frames): about half of an idle stream's memory. This ASGI middleware answers exactly that path and method
with the same steps as the route — the one authentication dependency (:func:`principal_for`, ``jobs:read``,
the tenant's request limit), :func:`open_stream` (Last-Event-ID 400, another tenant's job 404, stream caps
429) — and any error through the app's own problem handlers (:func:`problem_for`). Everything else, and the
OpenAPI declaration of the route, stays with FastAPI; CORS wraps this middleware as it wraps the router.
"""

from __future__ import annotations

import re

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.events import open_stream
from gateway.api.problems import problem_for
from gateway.api.security import principal_for

#: The route's path as Starlette matches ``/v1/jobs/{job_id}/events`` (a segment without ``/``).
_PATH = re.compile(r"/v1/jobs/([^/]+)/events")


class EventStreamFastPath:
    """Pure ASGI middleware: streams ``GET /v1/jobs/{id}/events``, passes everything else to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _PATH.fullmatch(get_route_path(scope))
            if match is not None:
                response = await _open(scope, receive, match.group(1))
                await response(scope, receive, send)  # only the stream's own state stays referenced
                return
        await self.app(scope, receive, send)


async def _open(scope: Scope, receive: Receive, job_id: str) -> Response:
    """The stream, or the problem+json the route would answer."""
    request = Request(scope, receive)
    state = request.app.state
    try:
        principal = await principal_for(request, "jobs:read")
        return await open_stream(
            principal,
            state.engine,
            state.hub,
            state.settings,
            job_id=job_id,
            last_event_id=request.headers.get("last-event-id", ""),
        )
    except Exception as exc:
        return await problem_for(request, exc)
