"""The app factory. The lifespan owns the database engine, the worker HTTP sessions and the runner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from gateway.api import api_router, install_problem_handlers
from gateway.errors import NotFoundError
from gateway.metrics import Metrics
from gateway.notify import Notifier
from gateway.pipelines import load_pipelines
from gateway.runner import HttpWorkerClient, Runner
from gateway.settings import Settings, load_settings
from gateway.store import create_engine, migrate
from gateway.store.batch import InsertBatcher

log = logging.getLogger(__name__)

_API_PREFIXES = ("v1/", "docs", "redoc", "openapi.json", "healthz", "readyz", "metrics")


def operation_id(route: APIRoute) -> str:
    """Stable OpenAPI operation ids: each route's ``name`` (listPipelines, createJob, …)."""
    return route.name


async def wait_for_database(engine: AsyncEngine, *, attempts: int = 30, delay: float = 1.0) -> None:
    """Wait until the database answers (it may still be starting next to us), then return."""
    for attempt in range(1, attempts + 1):
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("database not reachable yet (%s); retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_engine(settings.database_url)
    await wait_for_database(engine)
    await migrate(engine)
    settings.files_root.mkdir(parents=True, exist_ok=True)
    app.state.engine = engine
    app.state.registry = load_pipelines(settings.pipelines_dir)
    app.state.notifier = Notifier()
    app.state.metrics = Metrics()
    app.state.runner = None
    app.state.batcher = InsertBatcher(engine)
    app.state.batcher.start()
    client: HttpWorkerClient | None = None
    try:
        if settings.runs_runner:
            client = HttpWorkerClient(
                {str(name): url for name, url in settings.worker_urls().items()},
                max_connections=settings.worker_max_connections,
                connect_timeout=settings.worker_connect_timeout_seconds,
            )
            await client.start()
            app.state.runner = await _start_runner(app, engine, client)
            app.state.batcher.connect(app.state.runner)  # new jobs go straight to the runner
        yield
    finally:
        app.state.batcher.connect(None)
        if app.state.runner is not None:
            await app.state.runner.stop()
        if client is not None:
            await client.close()
        await app.state.batcher.stop()
        await engine.dispose()


async def _start_runner(app: FastAPI, engine: AsyncEngine, client: HttpWorkerClient) -> Runner:
    runner = Runner(
        engine=engine,
        registry=app.state.registry,
        client=client,
        settings=app.state.settings,
        metrics=app.state.metrics,
        on_commit=app.state.notifier.publish,
    )
    await runner.start()
    return runner


def _mount_ui(app: FastAPI, ui_dir: Path) -> None:
    """Serve the built UI at ``/``; unknown non-API paths get index.html (the SPA routes them).

    The UI is the router's fallback, not a catch-all route: it sees only requests no route matched, even
    by path alone, so an API path keeps the answers it has without the UI (``GET /v1/files`` stays a 405
    listing ``POST``), and an unknown API path is a problem+json 404, never index.html.
    """
    root = ui_dir.resolve()
    index = root / "index.html"

    async def ui(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app.router.not_found(scope, receive, send)
            return
        request = Request(scope, receive)
        path = request.url.path.removeprefix("/")
        if path.startswith(_API_PREFIXES):
            raise NotFoundError(f"no route {request.url.path}")
        if request.method != "GET":
            raise StarletteHTTPException(405, headers={"Allow": "GET"})
        candidate = (root / path).resolve()
        response: Response
        if path and candidate.is_file() and candidate.is_relative_to(root):
            response = FileResponse(candidate)
        else:
            response = FileResponse(index, headers={"Cache-Control": "no-cache"})
        await response(scope, receive, send)

    app.router.default = ui


def create_app(settings: Settings | None = None) -> FastAPI:
    """A gateway app; reads the environment only when ``settings`` is not given."""
    settings = settings or load_settings()
    app = FastAPI(
        title="Modaline gateway",
        version="1.0.0",
        description="Turns text, images and speech into each other by running named pipelines over AI workers.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(api_router)
    if settings.runs_api and (settings.ui_dir / "index.html").is_file():
        _mount_ui(app, settings.ui_dir)
    return app
