"""A small OTLP/HTTP trace receiver for the tracing bench: ``python -m bench.otlp_receiver --port N``.

``POST /v1/traces`` (protobuf) → decoded and counted; ``GET /stats`` → ``{"requests", "spans", "bytes"}``;
``GET /healthz`` → 200. It stands for a collector on the same machine, so the bench measures what the
exporter costs the gateway, including encoding and sending every span.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

STATS = {"requests": 0, "spans": 0, "bytes": 0}
_OK = ExportTraceServiceResponse().SerializeToString()


async def traces(request: web.Request) -> web.Response:
    body = await request.read()
    export = ExportTraceServiceRequest()
    export.ParseFromString(body)
    STATS["requests"] += 1
    STATS["bytes"] += len(body)
    STATS["spans"] += sum(len(s.spans) for r in export.resource_spans for s in r.scope_spans)
    return web.Response(body=_OK, content_type="application/x-protobuf")


async def stats(_: web.Request) -> web.Response:
    return web.Response(text=json.dumps(STATS), content_type="application/json")


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
