"""A fake worker on raw asyncio (uvloop): answers the worker contract as cheaply as possible.

``python -m bench.fake_worker --port 18530 [--delay 5] [--files-root DIR]``

- ``POST /v1/run`` → ``{"outputs": {...}, "usage": {...}}`` after ``--delay`` seconds (0 = at once). Outputs are
  shaped for the capability named in the request's step (llm text by default; ``image``/``audio`` FileRefs to
  one tiny file written at start under ``--files-root``). ``usage.seconds`` is this process's own time for the
  call, so the bench can subtract it from the job's wall time.
- ``--stream-pieces N --piece-delay S`` (llm): a run takes ``N * S`` seconds and answers ``N`` pieces of text;
  asked with ``Accept: text/event-stream`` it streams them as ``delta`` events ``S`` apart (chunked), then the
  ``result``; otherwise it answers the same text as plain JSON at the end (``python -m bench streaming``).
- ``GET /healthz``, ``/readyz``, ``/v1/info`` → 200; ``GET /stats`` → request counters and peak in-flight.

HTTP/1.1 keep-alive with Content-Length bodies only (what the gateway's client sends); no pipelining.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from pathlib import Path

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

STATS = {
    "requests": 0,
    "run": 0,
    "streamed": 0,
    "inflight": 0,
    "peak_inflight": 0,
    "connections": 0,
    "peak_connections": 0,
}
OUTPUTS: dict[str, dict[str, object]] = {}
DELAY = 0.0
PIECES: list[str] = []  # --stream-pieces: the llm text, piece by piece
PIECE_DELAY = 0.0

INFO = json.dumps(
    {
        "capability": "llm",
        "backend": "fake",
        "model": "fake",
        "inputs": {"text": {"type": "text", "required": True}},
        "outputs": {"text": {"type": "text", "required": True}},
    }
).encode()


def _response(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    reason = {200: b"OK", 404: b"Not Found", 400: b"Bad Request"}.get(status, b"OK")
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
        % (status, reason, content_type, len(body))
    ) + body


def _make_outputs(files_root: Path | None) -> None:
    OUTPUTS["llm"] = {"text": "ok"}
    OUTPUTS["stt"] = {"text": "ok", "language": "en"}
    if files_root is None:
        return
    for kind, name, ctype, data in (
        ("image", "fake.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 56),
        ("audio", "fake.wav", "audio/wav", b"RIFF" + b"\0" * 60),
    ):
        path = files_root / "bench" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        ref = {
            "file": f"bench/{name}",
            "content_type": ctype,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        OUTPUTS[kind] = {kind: ref}
    OUTPUTS["image_worker"] = OUTPUTS["image"]
    OUTPUTS["tts"] = OUTPUTS["audio"]
    OUTPUTS["cyclegan"] = OUTPUTS["image"]


def run_body(capability: str, seconds: float) -> bytes:
    outputs = OUTPUTS.get("image_worker" if capability == "image" else capability, OUTPUTS["llm"])
    usage = {"provider": "fake", "model": "fake", "seconds": seconds}
    return json.dumps({"outputs": outputs, "usage": usage}).encode()


class HttpProtocol(asyncio.Protocol):
    __slots__ = ("buf", "capability", "transport")

    def __init__(self, capability: str) -> None:
        self.buf = b""
        self.capability = capability
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        STATS["connections"] += 1
        STATS["peak_connections"] = max(STATS["peak_connections"], STATS["connections"])

    def connection_lost(self, exc: Exception | None) -> None:
        STATS["connections"] -= 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            lower = head.lower()
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                length = int(lower[i + 17 : j if j >= 0 else None].strip())
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = self.buf[end + 4 : total]
            self.buf = self.buf[total:]
            self.handle(head, body)

    def handle(self, head: bytes, body: bytes) -> None:
        start = time.perf_counter()
        STATS["requests"] += 1
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        parts = line.split(b" ")
        method, path = parts[0], parts[1] if len(parts) > 1 else b"/"
        transport = self.transport
        if transport is None:
            return
        if method == b"POST" and path == b"/v1/run":
            STATS["run"] += 1
            if PIECES:
                streamed = b"\r\naccept: text/event-stream" in head.lower()
                asyncio.get_running_loop().create_task(self._pieces(start, streamed))
                return
            if DELAY > 0:
                STATS["inflight"] += 1
                STATS["peak_inflight"] = max(STATS["peak_inflight"], STATS["inflight"])
                asyncio.get_running_loop().call_later(DELAY, self._delayed, start)
                return
            transport.write(_response(200, run_body(self.capability, time.perf_counter() - start)))
        elif path in (b"/healthz", b"/readyz"):
            transport.write(_response(200, b'{"status":"ok"}'))
        elif path == b"/v1/info":
            transport.write(_response(200, INFO))
        elif path == b"/stats":
            transport.write(_response(200, json.dumps(STATS).encode()))
        else:
            transport.write(_response(404, b'{"title":"not found","status":404}'))

    async def _pieces(self, start: float, streamed: bool) -> None:
        """An llm run of ``len(PIECES)`` pieces ``PIECE_DELAY`` apart: streamed (chunked SSE) or one JSON."""
        STATS["inflight"] += 1
        STATS["peak_inflight"] = max(STATS["peak_inflight"], STATS["inflight"])
        try:
            if streamed:
                STATS["streamed"] += 1
                self._write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                )
            for piece in PIECES:
                await asyncio.sleep(PIECE_DELAY)
                if streamed:
                    self._chunk(b"event: delta\ndata: %s\n\n" % json.dumps({"text": piece}).encode())
            usage = {"provider": "fake", "model": "fake", "seconds": time.perf_counter() - start}
            body = json.dumps({"outputs": {"text": "".join(PIECES)}, "usage": usage}).encode()
            if streamed:
                self._chunk(b"event: result\ndata: %s\n\n" % body)
                self._write(b"0\r\n\r\n")
            else:
                self._write(_response(200, body))
        finally:
            STATS["inflight"] -= 1

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _delayed(self, start: float) -> None:
        STATS["inflight"] -= 1
        if self.transport is not None:
            self.transport.write(_response(200, run_body(self.capability, time.perf_counter() - start)))


async def serve(port: int, capability: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(capability), "127.0.0.1", port, backlog=16384)
    async with server:
        await server.serve_forever()


def main() -> None:
    global DELAY, PIECE_DELAY
    parser = argparse.ArgumentParser(description="Fake Modaline worker for benchmarks")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering /v1/run")
    parser.add_argument("--capability", default="llm", help="shape of the outputs")
    parser.add_argument("--files-root", type=Path, default=None)
    parser.add_argument("--stream-pieces", type=int, default=0, help="llm: answer this many pieces of text")
    parser.add_argument("--piece-delay", type=float, default=0.01, help="seconds between two pieces")
    args = parser.parse_args()
    DELAY = args.delay
    PIECES[:] = [f"tok{i} " for i in range(args.stream_pieces)]
    PIECE_DELAY = args.piece_delay
    _make_outputs(args.files_root)
    if uvloop is not None:
        uvloop.run(serve(args.port, args.capability))
    else:  # pragma: no cover
        asyncio.run(serve(args.port, args.capability))


if __name__ == "__main__":
    main()
