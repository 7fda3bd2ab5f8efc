"""Real gateway processes: kill -9 in the middle of a job and restart; two runners on one PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest
from gateway_fakes import Behaviour, FakeWorker
from gateway_helpers import PIPELINES_FIXTURE, GatewayProcess, wait_for_job

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def process_env(database_url: str, files_root: Path, worker: FakeWorker, **extra: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "MODALINE_FILES_ROOT": str(files_root),
        "MODALINE_PIPELINES_DIR": str(PIPELINES_FIXTURE),
        "MODALINE_UI_DIR": str(files_root / "no-ui"),
        "MODALINE_LEASE_SECONDS": "2",
        "MODALINE_HEARTBEAT_SECONDS": "0.3",
        "MODALINE_RUNNER_POLL_SECONDS": "0.05",
        **{f"MODALINE_{cap.upper()}_URL": worker.url for cap in ("llm", "image", "stt", "tts", "cyclegan")},
    }
    env.pop("MODALINE_DATABASE_URL", None)
    return {**env, **extra}


async def test_kill_9_mid_job_then_restart_resumes_without_rerunning_finished_steps(
    database_url, files_root, fake_worker, tmp_path
):
    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)
    env = process_env(database_url, files_root, fake_worker)
    first = GatewayProcess(env, tmp_path / "first.log")
    second = GatewayProcess(env, tmp_path / "second.log")
    try:
        await first.start()
        async with httpx.AsyncClient(base_url=first.url) as client:
            job = (await client.post("/v1/jobs", json={"pipeline": "chain", "inputs": {"text": "x"}})).json()
            await fake_worker.wait_for_call("two")
        first.kill()
        release.set()
        await second.start()
        async with httpx.AsyncClient(base_url=second.url) as client:
            done = await wait_for_job(client, job["id"], within=20)
    finally:
        first.kill()
        second.stop()
    assert done["status"] == "succeeded", done
    assert done["outputs"] == {"text": "x>one>two>three"}
    assert fake_worker.calls[(job["id"], "one")] == 1  # the finished step was NOT run again
    assert fake_worker.calls[(job["id"], "two")] == 2  # the interrupted one was
    assert fake_worker.calls[(job["id"], "three")] == 1
    steps = {s["id"]: s for s in done["steps"]}
    assert steps["one"]["attempts"] == 1 and steps["three"]["attempts"] == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_runner_processes_never_run_the_same_job(database_url, files_root, fake_worker, tmp_path):
    # Each runner holds at most 4 jobs, and the first steps wait at the worker until 8 calls are open at once:
    # that can only happen with both runners holding jobs, however the machine schedules their processes.
    held = 4
    all_open = asyncio.Event()
    fake_worker.plan["one"] = Behaviour(block=all_open)
    fake_worker.plan["two"] = Behaviour(delay=0.02)
    runners = [
        GatewayProcess(
            process_env(
                database_url,
                files_root,
                fake_worker,
                MODALINE_ROLE="runner",
                MODALINE_RUNNER_CLAIM_BATCH="4",
                MODALINE_RUNNER_CONCURRENCY=str(held),
            ),
            tmp_path / f"runner{i}.log",
        )
        for i in range(2)
    ]
    api = GatewayProcess(
        process_env(database_url, files_root, fake_worker, MODALINE_ROLE="api"), tmp_path / "api.log"
    )
    try:
        await asyncio.gather(api.start(), *(r.start() for r in runners))
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            bodies = [{"pipeline": "chain", "inputs": {"text": f"j{i}"}} for i in range(150)]
            jobs = [
                r.json() for r in await asyncio.gather(*(client.post("/v1/jobs", json=b) for b in bodies))
            ]
            await fake_worker.wait_for_in_flight(2 * held)
            all_open.set()
            results = [await wait_for_job(client, job["id"], within=60) for job in jobs]
            events = [(await client.get(f"/v1/jobs/{job['id']}/events")).text for job in jobs]
    finally:
        for proc in (api, *runners):
            proc.stop()
    assert all(r["status"] == "succeeded" for r in results)
    assert len(fake_worker.calls) == 450 and set(fake_worker.calls.values()) == {
        1
    }  # every step ran exactly once
    assert all(text.count("event: job.running") == 1 for text in events)
    claimers = Counter(re.search(r"claimed by runner ([\w.-]+)", text).group(1) for text in events)
    assert len(claimers) == 2, claimers  # both runners took part
