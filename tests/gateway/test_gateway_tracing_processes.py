"""Traces across real processes: a gateway and an image worker, each exporting OTLP/HTTP (protobuf) to a
small receiver this test runs, configured only through the standard ``OTEL_*`` variables."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from gateway_helpers import GatewayProcess, free_port, wait_for_job
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TRACED_PIPELINES = Path(__file__).with_name("pipelines_traced")


class OtlpReceiver:
    """``POST /v1/traces`` of OTLP/HTTP: decodes each request and keeps (service, span) pairs."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []
        self.content_types: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._received = asyncio.Event()
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _traces(self, request: web.Request) -> web.Response:
        self.content_types.add(request.content_type)
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append((attrs.get("service.name", ""), span))
        self._received.set()
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    async def wait_for(self, name: str, count: int = 1, within: float = 60.0) -> None:
        async with asyncio.timeout(within):
            while sum(1 for _, span in self.spans if span.name == name) < count:
                self._received.clear()
                await self._received.wait()


def attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        value = a.value
        out[a.key] = getattr(value, value.WhichOneof("value"))
    return out


def spawn_worker(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m workers image`` as a child process on a free port, its output in ``log_path``."""
    port = free_port()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers", "image"],
            env={**os.environ, **env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}"


def lines_of(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


async def start_worker(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc, url = spawn_worker(env, log_path)
    async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(120):
        while True:
            assert proc.poll() is None, lines_of(log_path)
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def test_a_job_traced_across_the_gateway_and_a_worker_process_over_otlp_http(
    database_url, files_root, tmp_path
):
    receiver = OtlpReceiver()
    await receiver.start()
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s rather than 5 s
        "MODALINE_LOG_FORMAT": "json",
    }
    worker, worker_url = await start_worker(
        {**otel, "IMAGE_BACKEND": "local", "MODALINE_FILES_ROOT": str(files_root)}, tmp_path / "worker.log"
    )
    gateway_env = {
        **otel,
        "DATABASE_URL": database_url,
        "MODALINE_FILES_ROOT": str(files_root),
        "MODALINE_PIPELINES_DIR": str(TRACED_PIPELINES),
        "MODALINE_UI_DIR": str(files_root / "no-ui"),
        "MODALINE_IMAGE_URL": worker_url,
    }
    gateway = GatewayProcess(gateway_env, tmp_path / "gateway.log")
    try:
        await gateway.start()
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            created = await client.post(
                "/v1/jobs", json={"pipeline": "draw_twice", "inputs": {"text": "kites"}}
            )
            assert created.status_code == 202, created.text
            done = await wait_for_job(client, created.json()["id"], within=60)
        assert done["status"] == "succeeded", done
        await receiver.wait_for("job draw_twice")
        await receiver.wait_for("local image", count=2)
    finally:
        gateway.stop()
        worker.terminate()
        worker.wait(15)
        await receiver.stop()

    assert receiver.content_types == {"application/x-protobuf"}
    by_id = {span.span_id: (service, span) for service, span in receiver.spans}
    job_span = next(span for _, span in receiver.spans if span.name == "job draw_twice")
    trace = [(service, span) for service, span in receiver.spans if span.trace_id == job_span.trace_id]
    names = sorted((service, span.name) for service, span in trace)
    assert names == sorted(
        [
            ("modaline-gateway", "POST /v1/jobs"),
            ("modaline-gateway", "job draw_twice"),
            ("modaline-gateway", "step first"),
            ("modaline-gateway", "step second"),
            ("modaline-gateway", "call image"),
            ("modaline-gateway", "call image"),
            ("modaline-image", "run image"),
            ("modaline-image", "run image"),
            ("modaline-image", "local image"),
            ("modaline-image", "local image"),
        ]
    )
    # Parent links, across the HTTP hop and the queue: each worker span hangs under the gateway's call.
    for service, span in trace:
        if span.name == "POST /v1/jobs":
            assert span.parent_span_id == b""
            continue
        parent_service, parent = by_id[span.parent_span_id]
        expected = {
            "job draw_twice": "POST /v1/jobs",
            "step first": "job draw_twice",
            "step second": "job draw_twice",
            "call image": "step ",
            "run image": "call image",
            "local image": "run image",
        }[span.name]
        assert parent.name.startswith(expected), (span.name, parent.name)
        if span.name == "run image":
            assert (parent_service, service) == ("modaline-gateway", "modaline-image")
            assert attributes(span)["modaline.step"] == attributes(parent)["modaline.step"]
    # The logs of both processes are JSON lines; the worker's lines about a run carry its job, step and trace.
    trace_hex = job_span.trace_id.hex()
    worker_lines = [json.loads(line) for line in lines_of(tmp_path / "worker.log") if line]
    runs = [line for line in worker_lines if line.get("job_id") == done["id"]]
    assert {line["step_id"] for line in runs} == {"first", "second"}
    assert {line["trace_id"] for line in runs} == {trace_hex}
    assert any(line["logger"].startswith("uvicorn") for line in worker_lines)  # uvicorn's lines too
    gateway_lines = [json.loads(line) for line in lines_of(tmp_path / "gateway.log") if line.startswith("{")]
    assert all({"time", "level", "logger", "message", "service"} <= set(line) for line in gateway_lines)
    assert any(line["logger"] == "uvicorn.error" for line in gateway_lines)
