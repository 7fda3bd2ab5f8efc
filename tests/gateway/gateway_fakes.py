"""A fake worker at the true boundary: a real aiohttp server speaking the worker contract on a local port.

Each test scripts it per step id (delay, failures, blocking) and reads back what it saw: calls per
(job, step), overlapping calls, aborted calls. It writes real PNG/WAV files for image/tts steps.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from workers.kit.contract import OVERLOADED_PROBLEM_TYPE
from workers.kit.testing import png_bytes, put_file, wav_bytes


@dataclass
class Behaviour:
    """How the fake answers one step id."""

    delay: float = 0.0
    fail_times: int = 0  # the first N calls (per job) fail
    retryable: bool = True
    retry_after: float | None = None
    status: int = 503
    block: asyncio.Event | None = None  # wait for this before answering
    text: str | None = None
    # Streamed runs (a request with Accept: text/event-stream): the text output in these pieces, one delta
    # event each, ``piece_delay`` apart; after ``hold_after`` pieces wait for ``hold``. An attempt that must
    # fail (``fail_times``) fails mid-stream instead, with a problem event after ``len(pieces) // 2`` pieces.
    pieces: list[str] | None = None
    piece_delay: float = 0.0
    hold_after: int | None = None
    hold: asyncio.Event | None = None
    hold_end: asyncio.Event | None = None  # wait for this after the last piece, before the result
    busy: bool = False  # answer as the worker kit does at its own concurrency limit (problem type overloaded)


@dataclass
class FakeWorker:
    files_root: Path
    plan: dict[str, Behaviour] = field(default_factory=dict)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    times: list[tuple[str, str, float, float]] = field(default_factory=list)  # job, step, start, end
    call_log: list[tuple[str, str, float]] = field(default_factory=list)  # job, step, start
    traceparents: list[str | None] = field(default_factory=list)  # the header of each call, in order
    inputs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # last inputs per job, step
    in_flight: int = 0
    max_in_flight: int = 0
    streamed: int = 0  # calls answered as an event stream
    aborted: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None
    _called: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/run", self._run)
        app.router.add_get("/healthz", _healthz)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for_call(self, step_id: str, within: float = 20.0) -> None:
        """Return once the worker has been called for ``step_id`` (by any job)."""
        async with asyncio.timeout(within):
            while self.step_calls(step_id) == 0:
                self._called.clear()
                await self._called.wait()

    async def wait_for_in_flight(self, count: int, within: float = 60.0) -> None:
        """Return once ``count`` calls are open at the same time."""
        async with asyncio.timeout(within):
            while self.in_flight < count:
                self._called.clear()
                await self._called.wait()

    def step_calls(self, step_id: str) -> int:
        return sum(count for (_, step), count in self.calls.items() if step == step_id)

    async def _run(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        job, step = body["job_id"], body["step_id"]
        self.traceparents.append(request.headers.get("traceparent"))
        self.calls[(job, step)] += 1
        self.inputs[(job, step)] = body["inputs"]
        self._called.set()
        attempt = self.calls[(job, step)]
        behaviour = self.plan.get(step, Behaviour())
        if behaviour.pieces is not None and "text/event-stream" in request.headers.get("Accept", ""):
            return await self._stream(request, behaviour, fail=attempt <= behaviour.fail_times)
        start = time.monotonic()
        self.call_log.append((job, step, start))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if behaviour.block is not None:
                await behaviour.block.wait()
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
        except asyncio.CancelledError:
            self.aborted += 1
            raise
        finally:
            self.in_flight -= 1
            self.times.append((job, step, start, time.monotonic()))
        if attempt <= behaviour.fail_times:
            return _problem(behaviour, step, attempt)
        outputs = self._outputs(request.path, body, behaviour)
        usage = {
            "provider": "fake",
            "model": "fake-1",
            "seconds": 0.01,
            "input_tokens": 3,
            "output_tokens": 2,
        }
        return web.json_response({"outputs": outputs, "usage": usage, "placeholder": step == "draw"})

    async def _stream(self, request: web.Request, behaviour: Behaviour, *, fail: bool) -> web.StreamResponse:
        """A streamed llm run as the worker kit sends it: delta events, then a result (or a problem)."""
        assert behaviour.pieces is not None
        self.streamed += 1
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for index, piece in enumerate(behaviour.pieces):
            if fail and index == len(behaviour.pieces) // 2:
                problem = {
                    "type": "urn:modaline:problem:upstream-unavailable",
                    "title": "Upstream unavailable",
                    "status": 502,
                    "detail": "provider disconnected mid-answer",
                    "retryable": True,
                }
                await response.write(_sse("problem", problem))
                return response
            if index == behaviour.hold_after and behaviour.hold is not None:
                await behaviour.hold.wait()
            await response.write(_sse("delta", {"text": piece}))
            if behaviour.piece_delay:
                await asyncio.sleep(behaviour.piece_delay)
        if behaviour.hold_end is not None:
            await behaviour.hold_end.wait()
        usage = {
            "provider": "fake",
            "model": "fake-1",
            "seconds": 0.01,
            "output_tokens": len(behaviour.pieces),
        }
        await response.write(_sse("result", {"outputs": {"text": "".join(behaviour.pieces)}, "usage": usage}))
        return response

    def _outputs(self, _path: str, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
        inputs, step, job = body["inputs"], body["step_id"], body["job_id"]
        if "prompt" in inputs:
            return {
                "image": self._write(job, step, "image.png", png_bytes(8, 8, (10, 120, 200)), "image/png")
            }
        if "audio" in inputs and isinstance(inputs["audio"], dict):
            size = (self.files_root / inputs["audio"]["file"]).stat().st_size
            return {"text": f"heard {size} bytes", "language": "en"}
        if "image" in inputs and isinstance(inputs["image"], dict):
            data = (self.files_root / inputs["image"]["file"]).read_bytes()
            return {"image": self._write(job, step, "image.png", data, "image/png")}
        if "text" in inputs and step.split("-", 1)[0] in ("speak", "tts"):
            return {"audio": self._write(job, step, "audio.wav", wav_bytes(0.2, 8000), "audio/wav")}
        text = behaviour.text if behaviour.text is not None else f"{inputs.get('text', '')}>{step}"
        return {"text": text}

    def _write(self, job: str, step: str, name: str, data: bytes, content_type: str) -> dict[str, Any]:
        return put_file(self.files_root, f"jobs/{job}/{step}/{name}", data, content_type)


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _problem(behaviour: Behaviour, step: str, attempt: int) -> web.Response:
    headers = {"Content-Type": "application/problem+json"}
    if behaviour.retry_after is not None:
        headers["Retry-After"] = f"{behaviour.retry_after:g}"
    body = {
        "type": OVERLOADED_PROBLEM_TYPE if behaviour.busy else "about:blank",
        "title": "Upstream busy" if behaviour.retryable else "Bad input",
        "status": behaviour.status,
        "detail": f"{step} attempt {attempt} failed on purpose",
        "retryable": behaviour.retryable,
    }
    return web.Response(status=behaviour.status, body=json.dumps(body), headers=headers)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
