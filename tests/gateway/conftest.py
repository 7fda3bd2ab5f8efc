"""Gateway fixtures: a database (SQLite file or a real PostgreSQL), a fake worker on a local port, and a
gateway app wired to both. Store and runner tests take ``database_url`` and so run on both databases."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from gateway_fakes import FakeWorker
from gateway_helpers import fast_settings

from gateway.app import create_app
from gateway.store import create_engine, migrate

PG_ADMIN = os.environ.get("MODALINE_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = (
    "idempotency_keys",
    "job_events",
    "steps",
    "job_files",
    "file_deletions",
    "files",
    "jobs",
    "rate_counters",
    "api_keys",
)


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN} ({reason}); start it to run these tests")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database ``modaline_gw_<random>`` for this session, migrated, dropped at the end."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _pg_unavailable(str(exc).strip().splitlines()[0])
    name = f"modaline_gw_{secrets.token_hex(5)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"

    async def _migrate() -> None:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()

    asyncio.run(_migrate())
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on the real PostgreSQL (emptied first)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    url: str = request.getfixturevalue("pg_url")
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
        conn.execute("DELETE FROM tenants WHERE id <> 'default'")
    return url


@pytest.fixture
def files_root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    return root


@pytest.fixture
async def fake_worker(files_root: Path) -> AsyncIterator[FakeWorker]:
    worker = FakeWorker(files_root)
    await worker.start()
    yield worker
    await worker.stop()


GatewayFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_gateway(
    database_url: str, files_root: Path, fake_worker: FakeWorker
) -> AsyncIterator[GatewayFactory]:
    """Start gateway apps (lifespan included) with settings overrides; all stopped after the test."""
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def start(**overrides: Any) -> httpx.AsyncClient:
        app = create_app(fast_settings(database_url, files_root, fake_worker.url, **overrides))
        manager = LifespanManager(app, startup_timeout=30, shutdown_timeout=30)
        await manager.__aenter__()
        managers.append(manager)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://gateway")
        client.app = app  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for manager in reversed(managers):
        await manager.__aexit__(None, None, None)


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> httpx.AsyncClient:
    """One gateway (API + runner) talking to the fake worker."""
    return await make_gateway()


@pytest.fixture
async def live_gateway(
    database_url: str, files_root: Path, fake_worker: FakeWorker
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start gateways listening on a local port (uvicorn in this event loop, lifespan included), for
    clients that need a real URL (the ``openai`` SDK); the starter returns the base URL."""
    import uvicorn
    from gateway_helpers import free_port

    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> str:
        app = create_app(fast_settings(database_url, files_root, fake_worker.url, **overrides))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, task in servers:
        server.should_exit = True
        await task
