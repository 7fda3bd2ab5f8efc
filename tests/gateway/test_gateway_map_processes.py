"""A real gateway process killed with kill -9 in the middle of a map step, then restarted: finished items
are never called again, each item ends recorded as succeeded exactly once, max_parallel holds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from gateway_fakes import Behaviour, FakeWorker
from gateway_helpers import GatewayProcess, wait_for_job
from test_gateway_processes import process_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ITEMS = 10


async def _succeeded_items(client: httpx.AsyncClient, job_id: str) -> set[str]:
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    return {s["id"] for s in job["steps"] if s["parent"] == "item" and s["status"] == "succeeded"}


async def _until(read: Callable[[], Awaitable[object]], wanted: object, within: float = 30) -> None:
    """Poll ``read`` until it gives ``wanted`` (state in another process or on a socket: no event to await)."""
    async with asyncio.timeout(within):
        while await read() != wanted:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def _in_flight(worker: FakeWorker) -> Callable[[], Awaitable[int]]:
    async def read() -> int:
        return worker.in_flight

    return read


async def test_kill_9_after_4_of_10_items_resumes_only_the_unfinished(
    database_url, files_root, fake_worker, tmp_path
):
    gate = asyncio.Event()
    for i in range(4, ITEMS):  # the first four finish; the next ones hang at the worker until the kill
        fake_worker.plan[f"item-{i}"] = Behaviour(block=gate, delay=0.1)
    env = process_env(database_url, files_root, fake_worker)
    first = GatewayProcess(env, tmp_path / "first.log")
    second = GatewayProcess(env, tmp_path / "second.log")
    text = "\n".join(f"line {i}" for i in range(ITEMS))
    try:
        await first.start()
        async with httpx.AsyncClient(base_url=first.url) as client:
            job = (
                await client.post("/v1/jobs", json={"pipeline": "mapten", "inputs": {"text": text}})
            ).json()
            await _until(lambda: _succeeded_items(client, job["id"]), {f"item[{i}]" for i in range(4)})
            await fake_worker.wait_for_in_flight(4)  # items 4-7 are running now
        first.kill()
        gate.set()  # the dead runner's calls end; nobody hears their answers
        await _until(_in_flight(fake_worker), 0)
        fake_worker.max_in_flight = 0
        await second.start()
        async with httpx.AsyncClient(base_url=second.url) as client:
            done = await wait_for_job(client, job["id"], within=30)
            events = (await client.get(f"/v1/jobs/{job['id']}/events")).text
    finally:
        first.kill()
        second.stop()
    assert done["status"] == "succeeded", done
    assert done["outputs"] == {"texts": [f"line {i}>item-{i}" for i in range(ITEMS)]}
    calls = [fake_worker.calls[(job["id"], f"item-{i}")] for i in range(ITEMS)]
    assert calls[:4] == [1, 1, 1, 1]  # finished before the kill: never called again
    assert calls[4:8] == [2, 2, 2, 2]  # running at the kill: run again
    assert calls[8:] == [1, 1]  # not started before the kill
    assert fake_worker.max_in_flight <= 4  # max_parallel held by the runner that took over
    succeeded = [
        e["step_id"]
        for e in (json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: "))
        if e["type"] == "step.succeeded" and e["step_id"].startswith("item[")
    ]
    assert sorted(succeeded) == sorted(f"item[{i}]" for i in range(ITEMS))  # each exactly once
    steps = {s["id"]: s for s in done["steps"]}
    assert steps["item"]["items"] == {"total": ITEMS, "succeeded": ITEMS, "failed": 0, "running": 0}
    assert all(steps[f"item[{i}]"]["attempts"] == 1 for i in range(4))
