"""Many idle SSE clients on raw asyncio sockets (uvloop), in a process of their own.

``python -m bench.stream_clients --port P --jobs FILE``; then on stdin, one command a line:
- ``open N``: open streams until N are open, spread round-robin over the job ids in FILE; answers
  ``open N <seconds>`` once every one has received its response headers and replay;
- ``stats``: answers ``stats <open> <bytes read> <closed by the server>``;
- ``quit``.
Every stream keeps reading (and dropping) what arrives: pings and events. ``RLIMIT_NOFILE`` is raised to
its hard limit first.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import sys
import time
from pathlib import Path

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

STATE = {"open": 0, "bytes": 0, "closed": 0}


class Stream(asyncio.Protocol):
    def __init__(self, ready: asyncio.Future[None]) -> None:
        self.ready = ready

    def data_received(self, data: bytes) -> None:
        STATE["bytes"] += len(data)
        if not self.ready.done() and (b"event:" in data or b"HTTP/1.1 4" in data):
            self.ready.set_result(None)  # the replay arrived (or a refusal)

    def connection_lost(self, exc: Exception | None) -> None:
        STATE["open"] -= 1
        STATE["closed"] += 1
        if not self.ready.done():
            self.ready.set_result(None)


async def open_one(port: int, job: str) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    transport, _ = await loop.create_connection(lambda: Stream(ready), "127.0.0.1", port)
    STATE["open"] += 1
    transport.write(
        f"GET /v1/jobs/{job}/events HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await ready


async def main(port: int, jobs: list[str]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    cycle = itertools.cycle(jobs)
    while line := (await reader.readline()).decode().strip():
        cmd, *args = line.split()
        if cmd == "open":
            want = int(args[0])
            t0 = time.monotonic()
            while STATE["open"] < want:
                batch = min(200, want - STATE["open"])
                await asyncio.gather(*(open_one(port, next(cycle)) for _ in range(batch)))
            print(f"open {STATE['open']} {time.monotonic() - t0:.2f}", flush=True)
        elif cmd == "stats":
            print(f"stats {STATE['open']} {STATE['bytes']} {STATE['closed']}", flush=True)
        elif cmd == "quit":
            break


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--jobs", required=True)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    job_ids = Path(args.jobs).read_text().split()
    if uvloop is not None:
        uvloop.install()
    asyncio.run(main(args.port, job_ids))
