"""A map step against a real worker-kit worker (its own admission limit, its real 429 "busy" answers):
max_parallel 4 with the worker allowed 4 runs at once, and with only 2 — busy answers use no attempts."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import uvicorn
from gateway_helpers import free_port, submit, wait_for_job

from workers.kit.app import create_worker_app
from workers.kit.backend import Backend, Call, Result
from workers.kit.settings import WorkerSettings, load_settings

pytestmark = pytest.mark.anyio

TEXT = "\n".join(f"line {i}" for i in range(10))


@dataclass
class Tracker:
    lock: threading.Lock = field(default_factory=threading.Lock)
    now: int = 0
    peak: int = 0
    runs: int = 0


class SlowEcho(Backend):
    """An llm backend that takes 0.15 s per run and records how many runs overlap."""

    name = "fake"
    provider = "fake"
    default_model = "slow-echo"

    def __init__(self, settings: WorkerSettings, tracker: Tracker) -> None:
        super().__init__(settings)
        self.tracker = tracker

    def run(self, call: Call) -> Result:
        with self.tracker.lock:
            self.tracker.now += 1
            self.tracker.runs += 1
            self.tracker.peak = max(self.tracker.peak, self.tracker.now)
        time.sleep(0.15)
        with self.tracker.lock:
            self.tracker.now -= 1
        return Result({"text": f"echo: {call.inputs['text']}"})


@pytest.fixture
async def kit_worker(files_root) -> AsyncIterator[Callable[[int], Awaitable[tuple[str, Tracker]]]]:
    """Start a real llm worker (the kit's app, admission and thread pool) allowing ``n`` runs at once."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(max_concurrency: int) -> tuple[str, Tracker]:
        tracker = Tracker()
        settings = load_settings(
            "llm", backend="fake", max_concurrency=max_concurrency, files_root=files_root
        )
        app = create_worker_app("llm", {"fake": lambda s: SlowEcho(s, tracker)}, settings=settings)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        async with asyncio.timeout(20):
            while not server.started:  # noqa: ASYNC110  # uvicorn offers no event to await
                await asyncio.sleep(0.02)
        return f"http://127.0.0.1:{port}", tracker

    yield start
    for server, task in servers:
        server.should_exit = True
        await task


async def _events(gateway, job_id: str) -> list[dict]:
    text = (await gateway.get(f"/v1/jobs/{job_id}/events")).text
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_max_parallel_4_with_a_worker_allowing_4_runs(make_gateway, kit_worker):
    url, tracker = await kit_worker(4)
    gateway = await make_gateway(llm_url=url)
    done = await wait_for_job(gateway, (await submit(gateway, "mapten", text=TEXT))["id"], within=60)
    assert done["status"] == "succeeded", done["error"]
    assert done["outputs"]["texts"] == [f"echo: line {i}" for i in range(10)]
    assert tracker.runs == 10 and tracker.peak == 4  # four at once, never more, no run refused
    assert not [e for e in await _events(gateway, done["id"]) if e["type"] == "step.retrying"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_busy_answers_of_a_worker_allowing_2_runs_use_no_attempts(make_gateway, kit_worker):
    url, tracker = await kit_worker(2)
    gateway = await make_gateway(llm_url=url, default_max_attempts=2)
    done = await wait_for_job(gateway, (await submit(gateway, "mapten", text=TEXT))["id"], within=90)
    assert done["status"] == "succeeded", done["error"]
    assert tracker.runs == 10 and tracker.peak == 2
    items = [s for s in done["steps"] if s["parent"] == "item"]
    assert len(items) == 10 and all(s["attempts"] == 1 for s in items)  # busy answers did not count
    waits = [e for e in await _events(gateway, done["id"]) if e["type"] == "step.retrying"]
    assert waits and all("without using an attempt" in e["detail"] for e in waits)


def test_the_busy_problem_type_is_the_worker_kits():
    from workers.kit.contract import OVERLOADED_PROBLEM_TYPE
    from workers.kit.errors import Overloaded

    assert Overloaded("full").to_problem().type == OVERLOADED_PROBLEM_TYPE
