"""The event-stream fast path (``gateway/api/stream_fast_path.py``) answers ``GET /v1/jobs/{id}/events``
exactly as the FastAPI route does: same statuses, problem+json bodies, headers (CORS included) and
replay; the route itself stays declared in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from gateway_helpers import fast_settings, submit

from gateway.api.stream_fast_path import EventStreamFastPath
from gateway.app import create_app

pytestmark = pytest.mark.anyio

ORIGIN = "https://app.example.com"
COMPARED = ("content-type", "cache-control", "retry-after", "www-authenticate", "access-control-allow-origin")


async def _answers(
    database_url: str, files_root: Any, worker_url: str, job: str, *, fast: bool
) -> list[tuple[int, dict[str, str], bytes]]:
    app = create_app(fast_settings(database_url, files_root, worker_url, cors_origins=ORIGIN))
    if not fast:  # the route alone, as before the fast path
        app.user_middleware = [m for m in app.user_middleware if m.cls is not EventStreamFastPath]
    assert any(m.cls is EventStreamFastPath for m in app.user_middleware) is fast
    out = []
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            for path, headers in (
                (f"/v1/jobs/{job}/events", {}),
                (f"/v1/jobs/{job}/events", {"Last-Event-ID": "1"}),
                (f"/v1/jobs/{job}/events", {"Last-Event-ID": "-3"}),
                (f"/v1/jobs/{job}/events", {"Last-Event-ID": "abc"}),
                ("/v1/jobs/no-such-job/events", {}),
                ("/v1/jobs/no-such-job/events", {"Last-Event-ID": "x"}),
            ):
                r = await client.get(path, headers={"Origin": ORIGIN, **headers})
                kept = {k: r.headers[k] for k in COMPARED if k in r.headers}
                out.append((r.status_code, kept, r.content))
    return out


async def test_the_fast_path_answers_exactly_as_the_route(gateway, database_url, files_root, fake_worker):
    job = (await submit(gateway, "chain", text="x"))["id"]
    status = ""
    while status not in ("succeeded", "failed", "canceled"):
        status = (await gateway.get(f"/v1/jobs/{job}", headers={"Prefer": "wait=5"})).json()["status"]
    fast = await _answers(database_url, files_root, fake_worker.url, job, fast=True)
    route = await _answers(database_url, files_root, fake_worker.url, job, fast=False)
    assert fast == route
    statuses = [status for status, _, _ in fast]
    assert statuses == [200, 200, 400, 400, 404, 400]
    for status, headers, _body in fast:
        assert headers["access-control-allow-origin"] == ORIGIN
        if status != 200:
            assert headers["content-type"].startswith("application/problem+json")
    assert b"event: job.succeeded" in fast[0][2]


async def test_the_stream_route_stays_in_the_openapi_document(gateway):
    document = (await gateway.get("/openapi.json")).json()
    operation = document["paths"]["/v1/jobs/{job_id}/events"]["get"]
    assert operation["operationId"] == "streamJobEvents"
    assert {"200", "400", "401", "403", "404", "429"} <= set(operation["responses"])
