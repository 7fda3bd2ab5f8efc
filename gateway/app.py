"""The app factory. The lifespan owns the database engine, the worker HTTP sessions and the runner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from gateway.api import api_router, install_problem_handlers
from gateway.api.retention import RetentionView
from gateway.api.stream_fast_path import EventStreamFastPath
from gateway.auth import SCOPES, Authenticator, Limiter, UrlSigner
from gateway.auth.keys import hash_secret, looks_like_key, visible_prefix
from gateway.errors import NotFoundError
from gateway.events import EventHub
from gateway.files import FileStorage, StorageError, open_storage
from gateway.janitor import Janitor, stray_grace_seconds
from gateway.metrics import Metrics
from gateway.pipelines import load_pipelines
from gateway.runner import HttpWorkerClient, Runner
from gateway.settings import Settings, load_settings
from gateway.store import create_engine, migrate
from gateway.store.batch import InsertBatcher
from gateway.store.models import DEFAULT_TENANT, EventPublic
from gateway.store.tenants import add_key_unless_present, ensure_tenant

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


def check_auth_settings(settings: Settings) -> None:
    """Refuse to start with auth on and no signing key; warn loudly when auth is off on an open address."""
    if settings.auth_mode == "keys" and settings.signing_key is None:
        raise RuntimeError(
            "MODALINE_AUTH is keys (the default on a non-loopback address) but MODALINE_SIGNING_KEY is "
            "unset: set it to a long random secret (it signs file URLs), or MODALINE_AUTH=off"
        )
    if settings.auth_mode == "off" and not settings.loopback_only:
        log.warning(
            "AUTH IS OFF on %s: anyone who can reach this gateway can run jobs, spend the providers' "
            "credit and read every job and file; set MODALINE_AUTH=keys",
            settings.host,
        )


async def _bootstrap_key(engine: AsyncEngine, settings: Settings) -> None:
    """Store ``MODALINE_BOOTSTRAP_ADMIN_KEY`` (hashed) as an operator key, unless it already is."""
    if settings.bootstrap_admin_key is None:
        return
    secret = settings.bootstrap_admin_key.get_secret_value()
    if not looks_like_key(secret):
        raise RuntimeError(
            "MODALINE_BOOTSTRAP_ADMIN_KEY must look like a Modaline key: 'mdl_' + 43 URL-safe characters "
            "(python -c \"import secrets; print('mdl_' + secrets.token_urlsafe(32))\")"
        )
    await ensure_tenant(engine, tenant_id=DEFAULT_TENANT)
    stored = await add_key_unless_present(
        engine,
        tenant_id=DEFAULT_TENANT,
        prefix=visible_prefix(secret),
        secret_hash=hash_secret(secret),
        scopes=SCOPES,
        operator=True,
        name="bootstrap (MODALINE_BOOTSTRAP_ADMIN_KEY)",
    )
    if stored:
        log.info("stored the bootstrap operator key %s… (hashed)", visible_prefix(secret))


async def _open_storage(settings: Settings) -> FileStorage:
    """The file storage the settings name, checked once: a refusal is logged here and shown by /readyz."""
    storage = open_storage(settings.files_url, settings.files_root)
    try:
        await storage.acheck()
    except StorageError as exc:
        log.error("files at %s (%s) cannot be used yet: %s", storage.location, storage.kind, exc.detail)
    else:
        log.info("files at %s (%s)", storage.location, storage.kind)
    return storage


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    check_auth_settings(settings)
    engine = create_engine(settings.database_url)
    await wait_for_database(engine)
    await migrate(engine)
    await _bootstrap_key(engine, settings)
    app.state.storage = await _open_storage(settings)
    app.state.engine = engine
    keys_on = settings.auth_mode == "keys"
    app.state.authenticator = Authenticator(
        engine, mode=settings.auth_mode, cache_seconds=settings.auth_cache_seconds
    )
    app.state.limiter = Limiter(engine, settings, enabled=keys_on)
    await app.state.limiter.start()
    app.state.signer = UrlSigner.from_setting(
        settings.signing_key.get_secret_value() if settings.signing_key else None,
        ttl_seconds=settings.signed_url_seconds,
    )
    app.state.registry = load_pipelines(settings.pipelines_dir)
    app.state.hub = hub = EventHub(
        engine,
        poll_seconds=settings.sse_poll_seconds,
        max_pending=settings.sse_queue_events,
        listen=settings.sse_listen,
    )
    await hub.start()
    app.state.metrics = Metrics()
    app.state.runner = None
    app.state.janitor = None
    app.state.retention = RetentionView(engine, settings)
    app.state.batcher = InsertBatcher(engine, on_commit=hub.wake)
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
            app.state.janitor = _start_janitor(app, engine)
        yield
    finally:
        app.state.batcher.connect(None)
        if app.state.janitor is not None:
            await app.state.janitor.stop()
        if app.state.runner is not None:
            await app.state.runner.stop()
        if client is not None:
            await client.close()
        await app.state.batcher.stop()
        await hub.stop()
        await app.state.limiter.stop()
        await app.state.authenticator.close()
        await engine.dispose()


async def _start_runner(app: FastAPI, engine: AsyncEngine, client: HttpWorkerClient) -> Runner:
    runner = Runner(
        engine=engine,
        registry=app.state.registry,
        client=client,
        settings=app.state.settings,
        metrics=app.state.metrics,
        on_commit=app.state.hub.wake,
        caps=app.state.limiter.running_caps,
        storage=app.state.storage,
    )
    await runner.start()
    return runner


def _start_janitor(app: FastAPI, engine: AsyncEngine) -> Janitor:
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    janitor = Janitor(
        engine,
        app.state.storage,
        retention_days=settings.retention_days,
        upload_ttl_hours=settings.upload_ttl_hours,
        interval_seconds=settings.janitor_interval_seconds,
        batch=settings.janitor_batch,
        stray_grace_seconds=stray_grace_seconds(
            [spec.timeout_seconds for spec in app.state.registry.all()],
            settings.step_timeout_seconds,
            settings.lease_seconds,
        ),
        on_pass=lambda done: metrics.janitor_pass(done.jobs, done.files, done.keys, done.strays),
        on_deleted=app.state.hub.end_jobs,
    )
    janitor.start()
    return janitor


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


def _name_stream_schemas(app: FastAPI) -> None:
    """Add the event stream's payload (EventPublic) to the document's named schemas.

    An SSE response's schema describes each event (``{event, id, data}``), with the payload as ``data``'s
    ``contentSchema``; no route returns EventPublic as JSON, so FastAPI would not name it, and the UI's typed
    client takes it from ``components.schemas``.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["EventPublic"] = EventPublic.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


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
    app.add_middleware(EventStreamFastPath)  # inside CORS, which is added after it
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "Prefer"],
            expose_headers=[
                "Location",
                "Retry-After",
                "RateLimit",
                "RateLimit-Policy",
                "Preference-Applied",
                "Modaline-Job-Id",
            ],
        )
    app.include_router(api_router)
    _name_stream_schemas(app)
    if settings.runs_api and (settings.ui_dir / "index.html").is_file():
        _mount_ui(app, settings.ui_dir)
    return app
