"""Helpers the gateway tests share: submit a job, wait for it to finish."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def wait_for_job(
    client: httpx.AsyncClient, job_id: str, *, statuses: tuple[str, ...] = ("succeeded", "failed", "canceled"),
    within: float = 15.0,
) -> dict[str, Any]:
    """Poll the API until the job reaches one of ``statuses``; fail the test after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        job: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}")).json()
        if job["status"] in statuses:
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {within} s: {job}")
        await asyncio.sleep(0.02)


async def submit(client: httpx.AsyncClient, pipeline: str, **inputs: Any) -> dict[str, Any]:
    response = await client.post("/v1/jobs", json={"pipeline": pipeline, "inputs": inputs})
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]
