"""The narrow interface the runner uses to call workers, and its aiohttp implementation.

One pooled ``aiohttp.ClientSession`` per worker, created once by the app's lifespan: the bench (``bench/README.md``)
measured it at ~6x httpx on this path and at about half the memory per in-flight call. Every failure becomes a
:class:`WorkerCallError` that says whether retrying can help — taken from the worker's problem document
(``retryable``, ``Retry-After``), or, when there is none, from the kind of failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

import aiohttp
from pydantic import ValidationError

from workers.kit.contract import OVERLOADED_PROBLEM_TYPE, Problem, RunRequest, RunResponse

#: Statuses that mean "try again later" when a worker answers without a problem document.
_TRANSIENT = frozenset({408, 429, 502, 503, 504})


@dataclass
class WorkerCallError(Exception):
    """A worker call that did not produce a RunResponse."""

    title: str
    detail: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    busy: bool = False  # the worker's own concurrency limit (429 "overloaded"): wait, do not count an attempt

    def __str__(self) -> str:
        return f"{self.title}: {self.detail}"


class WorkerClient(Protocol):
    """What the runner needs from the workers: run one step, or say why not."""

    async def run(self, worker: str, request: RunRequest, *, time_limit: float) -> RunResponse: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(status: int, body: bytes, retry_after: str | None) -> WorkerCallError:
    """Translate a non-200 worker answer, trusting its problem document's ``retryable`` when present."""
    delay = parse_retry_after(retry_after)
    try:
        problem = Problem.model_validate_json(body)
    except ValidationError:
        text = body[:300].decode(errors="replace")
        return WorkerCallError(f"Worker answered {status}", text, status in _TRANSIENT, status, delay)
    busy = status == 429 and problem.type == OVERLOADED_PROBLEM_TYPE
    return WorkerCallError(problem.title, problem.detail, problem.retryable, status, delay, busy)


class HttpWorkerClient:
    """Calls ``POST {url}/v1/run`` through one bounded, keep-alive session per worker."""

    def __init__(
        self, urls: dict[str, str], *, max_connections: int = 1024, connect_timeout: float = 5.0
    ) -> None:
        self._urls = {name: url.rstrip("/") + "/v1/run" for name, url in urls.items()}
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        for name in self._urls:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._max_connections,
                keepalive_timeout=30,
                enable_cleanup_closed=True,
            )
            self._sessions[name] = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, connect=self._connect_timeout),
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "modaline-gateway", "Content-Type": "application/json"},
            )

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        await asyncio.gather(*(s.close() for s in sessions.values()))

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=seconds, connect=min(seconds, self._connect_timeout))
            if len(self._timeouts) < 64:
                self._timeouts[seconds] = timeout
        return timeout

    async def run(self, worker: str, request: RunRequest, *, time_limit: float) -> RunResponse:
        try:
            session, url = self._sessions[worker], self._urls[worker]
        except KeyError:
            raise WorkerCallError(
                "Unknown worker", f"no URL configured for worker {worker!r}", False
            ) from None
        body = request.model_dump_json().encode()
        try:
            async with session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout(time_limit),
            ) as response:
                payload = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except TimeoutError:
            raise WorkerCallError(
                "Worker timed out", f"{worker} gave no answer within {time_limit:g} s", True
            ) from None
        except aiohttp.ClientError as exc:
            raise WorkerCallError("Worker unreachable", f"{worker} at {url}: {exc}", True) from None
        if status != 200:
            raise error_from_response(status, payload, retry_after)
        try:
            return RunResponse.model_validate_json(payload)
        except ValidationError as exc:
            raise WorkerCallError("Bad worker response", f"{worker} answered 200 with {exc}", False) from None
