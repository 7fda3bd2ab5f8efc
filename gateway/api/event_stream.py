"""One job's Server-Sent Events stream: replay from the log after ``Last-Event-ID``, then follow the hub.

A plain ASGI response with one extra task per stream (the disconnect watcher), so ten thousand idle
streams cost little more than their sockets. The order that loses and repeats nothing: subscribe to the
hub first, then replay the log; an event both paths carry (``seq`` above the hub's settled point at
subscription) is sent once. The stream ends after the job's terminal event; a stream whose client falls
``MODALINE_SSE_QUEUE_EVENTS`` events behind, or stops reading for ``MODALINE_SSE_SEND_TIMEOUT_SECONDS``,
is cut off (with a comment saying so when the socket still takes it); the client resumes with
``Last-Event-ID``, as EventSource and ``modaline jobs watch`` do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.events import StoredEvent, Subscription
from gateway.store.events import events_after

log = logging.getLogger(__name__)

TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.canceled"})
_REPLAY_PAGE = 500
_PING = b": ping\n\n"
_DELETED = b": closed: the job was deleted\n\n"
_BEHIND = b": closed: this stream fell too far behind; reconnect with Last-Event-ID to resume\n\n"
_SHUTDOWN = b": closed: the gateway is stopping; reconnect with Last-Event-ID to resume\n\n"


def frame(event: StoredEvent) -> bytes:
    """One event as an SSE frame: ``id`` is its ``seq``, ``event`` its type, ``data`` its JSON."""
    return f"id: {event.seq}\nevent: {event.type}\ndata: {event.data}\n\n".encode()


class JobEventStream(Response):
    """``text/event-stream`` for one job; ``subscription`` is None when the job had already finished."""

    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        subscription: Subscription | None,
        settled: int,
        tenant_id: str,
        job_id: str,
        after: int,
        ping_seconds: float,
        send_timeout: float,
        status_code: int = 200,  # FastAPI reads this default for the OpenAPI document
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._engine = engine
        self._sub = subscription
        self._settled = settled
        self._tenant_id = tenant_id
        self._job_id = job_id
        self._after = after
        self._ping = ping_seconds
        self._send_timeout = send_timeout
        self._deadline: asyncio.Timeout | None = None
        self._sending = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sub = self._sub
        watcher = asyncio.ensure_future(self._watch_disconnect(receive))
        if sub is not None:
            sub.on_close = self._closed
        try:
            async with asyncio.timeout(None) as deadline:
                self._deadline = deadline
                await self._run(send)
        except TimeoutError:
            log.info("SSE stream of job %s cut off: the client stopped reading", self._job_id)
        finally:
            if sub is not None:
                sub.on_close = None
                sub.close()
            watcher.cancel()

    async def _run(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        replayed, ended = await self._replay(send)
        sub = self._sub
        if ended or sub is None:
            await self._write(send, b"", more=False)
            return
        while True:
            if not await sub.wait(self._ping):
                await self._write(send, _PING)
                continue
            events = [e for e in sub.drain() if e.seq > self._after and e.seq not in replayed]
            if events:
                chunk, ended = _frames(events)
                await self._write(send, chunk)
                if ended:
                    break
            if sub.closed_reason == "disconnected":
                return
            if sub.closed_reason == "deleted":
                await self._write(send, _DELETED)
                break
            if sub.closed_reason == "behind":
                await self._write(send, _BEHIND)
                break
            if sub.closed_reason is not None:
                await self._write(send, _SHUTDOWN)
                break
        await self._write(send, b"", more=False)

    async def _replay(self, send: Send) -> tuple[set[int], bool]:
        """Send the log after ``Last-Event-ID``; the replayed seqs the hub may repeat, and whether the
        terminal event was among them."""
        repeatable: set[int] = set()
        after = self._after
        while True:
            events = await events_after(
                self._engine, tenant_id=self._tenant_id, job_id=self._job_id, after=after, limit=_REPLAY_PAGE
            )
            if events:
                chunk, ended = _frames(events)
                await self._write(send, chunk)
                repeatable.update(e.seq for e in events if e.seq > self._settled)
                if ended:
                    return repeatable, True
                after = events[-1].seq
            if len(events) < _REPLAY_PAGE:
                return repeatable, False

    async def _write(self, send: Send, body: bytes, *, more: bool = True) -> None:
        """Send, giving the client ``send_timeout`` seconds to make room (uvicorn waits while its buffer
        is full); a cut-off meanwhile ends the stream."""
        assert self._deadline is not None
        loop = asyncio.get_running_loop()
        self._sending = True
        self._deadline.reschedule(loop.time() + self._send_timeout)
        try:
            await send({"type": "http.response.body", "body": body, "more_body": more})
        finally:
            self._sending = False
            self._deadline.reschedule(None)

    def _closed(self, reason: str) -> None:
        # The hub dropped this stream's queue while a send waits on a client that stopped reading:
        # cut it off now rather than after the send timeout.
        if reason == "behind" and self._sending and self._deadline is not None:
            self._deadline.reschedule(asyncio.get_running_loop().time())

    async def _watch_disconnect(self, receive: Receive) -> None:
        with contextlib.suppress(Exception):
            while (await receive())["type"] != "http.disconnect":
                pass
            if self._sub is not None:
                self._sub.close("disconnected")


def _frames(events: list[StoredEvent]) -> tuple[bytes, bool]:
    """The frames of ``events`` up to and including a terminal one; whether one was there."""
    out: list[bytes] = []
    for event in events:
        out.append(frame(event))
        if event.type in TERMINAL_EVENTS:
            return b"".join(out), True
    return b"".join(out), False
