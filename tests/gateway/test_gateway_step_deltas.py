"""Live text of llm steps: ``step.delta`` events on the job's SSE stream, over real HTTP, on both databases.

The fake llm worker streams slowly (and can hold mid-answer); the gateway serves on a real port so a stream
can be cut and resumed with ``Last-Event-ID`` exactly as a browser's EventSource does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from gateway_fakes import Behaviour, FakeWorker
from gateway_helpers import free_port, submit, wait_for_job
from sqlalchemy import func, select

from gateway.store import create_engine
from gateway.store.models import EVENTS

pytestmark = pytest.mark.anyio

PIECES = [f"word{i} " for i in range(11)] + ["end."]
ANSWER = "".join(PIECES)


@pytest.fixture
async def served(make_gateway: Any) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """``await served(**settings)``: a gateway (API + runner) on a real 127.0.0.1 port, as an HTTP client."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    clients: list[httpx.AsyncClient] = []

    async def start(**overrides: Any) -> httpx.AsyncClient:
        asgi = await make_gateway(**overrides)  # lifespan entered: runner started
        port = free_port()
        config = uvicorn.Config(asgi.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        for _ in range(3000):  # up to 30 s
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "the gateway did not start serving"
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for server, task in servers:
        server.should_exit = True
        await task


class Reader:
    """Reads a job's SSE stream over HTTP event by event (``id``, ``event``, parsed ``data``)."""

    def __init__(self, client: httpx.AsyncClient, job_id: str, last_id: int | None = None) -> None:
        headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
        self._cm = client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers)
        self._lines: AsyncIterator[str] | None = None

    async def __aenter__(self) -> Reader:
        response = await self._cm.__aenter__()
        assert response.status_code == 200
        self._lines = response.aiter_lines()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(None, None, None)  # closes the connection: the cut

    async def next(self) -> dict[str, Any] | None:
        assert self._lines is not None
        fields: dict[str, str] = {}
        async for line in self._lines:
            if not line:
                if "data" in fields:
                    return {
                        "id": int(fields["id"]),
                        "event": fields["event"],
                        "data": json.loads(fields["data"]),
                    }
                fields = {}
                continue
            if not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        return None

    async def until(self, stop: Callable[[dict[str, Any]], bool], within: float = 20) -> list[dict[str, Any]]:
        """Events up to and including the first one ``stop`` accepts (or the end of the stream)."""
        seen = []
        async with asyncio.timeout(within):
            while (event := await self.next()) is not None:
                seen.append(event)
                if stop(event):
                    break
        return seen


def deltas(events: list[dict[str, Any]], step: str = "one") -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["event"] == "step.delta" and e["data"]["step_id"] == step]


async def delta_rows(database_url: str, job_id: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).where(EVENTS.c.job_id == job_id, EVENTS.c.type == "step.delta")
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def test_a_cut_stream_resumed_with_the_last_id_reassembles_the_final_text(
    served: Any, fake_worker: FakeWorker, database_url: str
) -> None:
    hold, hold_end = asyncio.Event(), asyncio.Event()
    fake_worker.plan["one"] = Behaviour(
        pieces=PIECES, piece_delay=0.01, hold_after=6, hold=hold, hold_end=hold_end
    )
    client = await served()
    job = await submit(client, "chain", text="go")

    async with Reader(client, job["id"]) as first:
        before = await first.until(lambda e: "word5" in "".join(d["detail"] for d in deltas([e])))
        seen = "".join(d["detail"] for d in deltas(before))
        last_id = before[-1]["id"]
    # cut mid-answer: the worker holds after six pieces, so the step is still running
    assert seen and seen != ANSWER and ANSWER.startswith(seen)
    assert all(d["attempt"] == 1 and d["status"] == "running" for d in deltas(before))
    assert await delta_rows(database_url, job["id"]) >= 1  # stored while the step runs

    async with Reader(client, job["id"], last_id=last_id) as second:
        hold.set()  # the rest of the answer is written while nobody listens, then the worker holds again
        resumed = seen
        after: list[dict[str, Any]] = []
        while len(resumed) < len(ANSWER):
            after += await second.until(lambda e: e["event"] == "step.delta")
            resumed = seen + "".join(d["detail"] for d in deltas(after))
        hold_end.set()
        after += await second.until(lambda e: e["event"] == "job.succeeded")
    assert all(e["id"] > last_id for e in after)  # nothing replayed twice
    done = await wait_for_job(client, job["id"])
    one = next(s for s in done["steps"] if s["id"] == "one")
    assert resumed == one["outputs"]["text"] == ANSWER
    succeeded = next(e for e in after if e["event"] == "step.succeeded")
    assert succeeded["data"]["step_id"] == "one" and succeeded["data"]["detail"] == ANSWER
    assert [e["event"] for e in after].count("step.succeeded") == 3
    # pieces were coalesced: fewer events than the worker's pieces
    assert len(deltas(before)) + len(deltas(after)) < len(PIECES)
    assert fake_worker.streamed == 1  # steps two and three: the fake answered them as plain JSON

    # the step's deltas are gone now; a replay from the start shows the outcome, not the pieces
    assert await delta_rows(database_url, job["id"]) == 0
    async with Reader(client, job["id"]) as replay:
        everything = await replay.until(lambda e: e["event"] == "job.succeeded")
    assert not deltas(everything)
    async with Reader(client, job["id"], last_id=last_id) as late:
        reconnect = await late.until(lambda e: e["event"] == "job.succeeded")
    first_event = reconnect[0]["data"]  # after the step ended, a reconnect gets its outcome and whole text
    assert (first_event["type"], first_event["step_id"], first_event["detail"]) == (
        "step.succeeded",
        "one",
        ANSWER,
    )


async def test_a_retried_stream_says_so_by_its_attempt(
    served: Any, fake_worker: FakeWorker, database_url: str
) -> None:
    hold_end = asyncio.Event()  # the second attempt holds before its result: every delta can be read
    fake_worker.plan["one"] = Behaviour(pieces=PIECES, piece_delay=0.01, fail_times=1, hold_end=hold_end)
    client = await served(delta_flush_chars=1)  # one event per piece: the cut is visible
    job = await submit(client, "chain", text="go")

    def text_of(events: list[dict[str, Any]], attempt: int) -> str:
        return "".join(d["detail"] for d in deltas(events) if d["attempt"] == attempt)

    async with Reader(client, job["id"]) as reader:
        events: list[dict[str, Any]] = []
        while text_of(events, 2) != ANSWER:
            events += await reader.until(lambda e: e["event"] == "step.delta")
        hold_end.set()
        events += await reader.until(lambda e: e["event"] == "job.succeeded")

    assert text_of(events, 1) == "".join(PIECES[: len(PIECES) // 2])  # the first answer, cut off
    ones = [e for e in events if e["data"].get("step_id") == "one"]
    names = [e["event"] for e in ones]
    retried = names.index("step.retrying")
    restarted = names.index("step.running", retried)
    assert ones[restarted]["data"]["attempt"] == 2
    # every delta before the retry is attempt 1's, every one after the restart attempt 2's
    assert {e["data"]["attempt"] for e in ones[:retried] if e["event"] == "step.delta"} == {1}
    assert {e["data"]["attempt"] for e in ones[restarted:] if e["event"] == "step.delta"} == {2}
    assert ones[-1]["event"] == "step.succeeded" and ones[-1]["data"]["detail"] == ANSWER
    assert await delta_rows(database_url, job["id"]) == 0  # both attempts' pieces collapsed at the end


async def test_a_canceled_streaming_step_leaves_no_deltas(
    served: Any, fake_worker: FakeWorker, database_url: str
) -> None:
    hold = asyncio.Event()
    fake_worker.plan["one"] = Behaviour(pieces=PIECES, hold_after=3, hold=hold)
    client = await served()
    job = await submit(client, "chain", text="go")
    async with Reader(client, job["id"]) as reader:
        await reader.until(lambda e: e["event"] == "step.delta")
    assert await delta_rows(database_url, job["id"]) >= 1

    assert (await client.post(f"/v1/jobs/{job['id']}/cancel")).status_code in (200, 202)
    canceled = await wait_for_job(client, job["id"])
    hold.set()
    assert canceled["status"] == "canceled"
    assert await delta_rows(database_url, job["id"]) == 0


async def test_with_streaming_off_llm_steps_are_plain_runs(served: Any, fake_worker: FakeWorker) -> None:
    fake_worker.plan["one"] = Behaviour(pieces=PIECES)
    client = await served(stream_llm_steps=False)
    job = await submit(client, "chain", text="go")
    async with Reader(client, job["id"]) as reader:
        events = await reader.until(lambda e: e["event"] == "job.succeeded")
    assert not deltas(events) and fake_worker.streamed == 0
    assert (await wait_for_job(client, job["id"]))["steps"][0]["outputs"]["text"] == "go>one"
