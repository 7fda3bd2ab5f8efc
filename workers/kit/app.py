"""The HTTP face of every worker: ``create_worker_app(capability, backends)``.

Routes stay thin: they hand requests to :class:`~workers.kit.runtime.WorkerRuntime` and render its answers.
Every error leaves as ``application/problem+json`` with a ``retryable`` member; request bodies that do not
parse are 422s, never 500s. The endpoints and the error table are listed in ``workers/kit/README.md``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from workers.kit.backend import BackendFactory, select_backend
from workers.kit.contract import (
    PROBLEM_CONTENT_TYPE,
    STREAM_CONTENT_TYPE,
    Capability,
    RunRequest,
    RunResponse,
    WorkerInfo,
)
from workers.kit.errors import InvalidInput, WorkerError
from workers.kit.runtime import StreamItem, WorkerRuntime
from workers.kit.settings import WorkerSettings, load_settings

log = logging.getLogger("modaline.worker")


def create_worker_app(
    capability: Capability,
    backends: Mapping[str, BackendFactory],
    *,
    settings: WorkerSettings | None = None,
) -> FastAPI:
    """A worker for ``capability`` serving the backend its settings select."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    settings = settings or load_settings(capability)
    runtime = WorkerRuntime(capability, select_backend(settings, dict(backends)), settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(
        title=f"Modaline {capability} worker",
        version="1",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
    )
    app.state.runtime = runtime
    _install_error_handlers(app)
    app.include_router(_routes())
    return app


def get_runtime(request: Request) -> WorkerRuntime:
    """The runtime of the app serving this request."""
    runtime: WorkerRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[WorkerRuntime, Depends(get_runtime)]


def _routes() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", summary="Liveness: 200 while the process lives")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: 200 when the backend can serve, 503 with the reason otherwise")
    async def readyz(runtime: RuntimeDep) -> JSONResponse:
        reason = runtime.not_ready_reason()
        body = {"backend": runtime.backend.name, "model": runtime.backend.model}
        if reason is None:
            return JSONResponse({"status": "ready", **body})
        return JSONResponse({"status": "not ready", "reason": reason, **body}, status_code=503)

    @router.get("/v1/info", response_model=WorkerInfo, summary="What this worker accepts and returns")
    async def info(runtime: RuntimeDep) -> WorkerInfo:
        return runtime.info()

    @router.post(
        "/v1/run",
        response_model=RunResponse,
        response_model_exclude_none=True,
        summary="Run the capability once",
        description=(
            "With `Accept: text/event-stream`, a worker whose backend streams (llm) answers with server-sent "
            "events instead: `delta` events (data: `RunDelta`, the next piece of the text output), then one "
            "`result` (data: this RunResponse) or `problem` (data: a problem document). Other workers answer "
            "JSON whatever the Accept header says."
        ),
        responses={
            200: {
                "content": {
                    STREAM_CONTENT_TYPE: {
                        "schema": {"type": "string", "description": "delta* then result | problem"}
                    }
                }
            }
        },
    )
    async def run(body: RunRequest, runtime: RuntimeDep, request: Request) -> Response | RunResponse:
        traceparent = request.headers.get("traceparent")
        if runtime.streams and _wants_stream(request.headers.get("accept", "")):
            # raises (a problem answer) when the run cannot start
            events = runtime.open_stream(body, traceparent=traceparent)
            first = await anext(events)
            if first[0] == "problem":  # failed before its first piece (e.g. bad input): a plain problem
                await events.aclose()
                return problem_response(first[1], request)
            return StreamingResponse(
                _sse(first, events),
                media_type=STREAM_CONTENT_TYPE,
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await runtime.run(body, traceparent=traceparent)

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics(runtime: RuntimeDep) -> Response:
        return Response(runtime.metrics.render(), media_type=runtime.metrics.content_type)

    return router


def _wants_stream(accept: str) -> bool:
    """True when the Accept header names the event stream (and does not refuse it with q=0)."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() == STREAM_CONTENT_TYPE:
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
    return False


async def _sse(first: StreamItem, rest: AsyncGenerator[StreamItem, None]) -> AsyncIterator[bytes]:
    """Server-sent events of a streamed run (``event:`` name, one ``data:`` line of JSON); a problem event
    carries ``retry_after`` (seconds) when the error knows it."""
    try:
        item: StreamItem | None = first
        while item is not None:
            name, value = item
            if isinstance(value, WorkerError):
                later = {} if value.retry_after is None else {"retry_after": value.retry_after}
                data: BaseModel = value.to_problem(instance="/v1/run", **later)
            else:
                data = value
            yield f"event: {name}\ndata: {data.model_dump_json(exclude_none=True)}\n\n".encode()
            item = await anext(rest, None)
    finally:
        await rest.aclose()


def problem_response(error: WorkerError, request: Request) -> JSONResponse:
    """``error`` as an RFC 9457 answer with ``Retry-After`` when known."""
    problem = error.to_problem(instance=request.url.path)
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=error.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=error.headers(),
    )


def _install_error_handlers(app: FastAPI) -> None:
    async def on_worker_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, WorkerError)
        return problem_response(exc, request)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(InvalidInput(_describe_validation(exc)), request)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error = WorkerError(str(exc.detail), status=exc.status_code)
        error.title = "Not found" if exc.status_code == 404 else "HTTP error"
        return problem_response(error, request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem_response(WorkerError(f"unexpected {type(exc).__name__}; see the worker log"), request)

    app.add_exception_handler(WorkerError, on_worker_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)
