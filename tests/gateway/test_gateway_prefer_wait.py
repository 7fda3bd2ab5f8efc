"""``Prefer: wait=N`` on ``POST /v1/jobs`` (RFC 7240), on SQLite and PostgreSQL: a job that ends within the
wait answers 201 with the whole job, one that does not answers 202 as without the header."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from gateway_fakes import Behaviour
from gateway_helpers import GatewayProcess, wait_for_job
from test_gateway_processes import process_env

from gateway.api.waiting import preferred_wait
from gateway.errors import BadRequestError
from workers.kit.testing import wav_bytes

pytestmark = pytest.mark.anyio
CHAIN = {"pipeline": "chain", "inputs": {"text": "hi"}}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("wait=5", 5),
        ("WAIT = 7", 7),
        ('wait="9"', 9),
        ("wait=0", 0),
        ("wait", 60),
        ("wait=61", 60),
        ("wait=100000", 60),
        ("respond-async, wait=12", 12),
        ("handling=lenient; x=1, wait=3", 3),
        ("respond-async", None),
        ("waiting=5", None),
    ],
)
def test_prefer_header_parsing(header, seconds):
    assert preferred_wait(header) == seconds


@pytest.mark.parametrize("header", ["wait=abc", "wait=-1", "wait=1.5", "wait=5s"])
def test_a_malformed_wait_is_refused(header):
    with pytest.raises(BadRequestError):
        preferred_wait(header)


async def test_a_job_that_ends_within_the_wait_answers_201_with_the_whole_job(gateway):
    response = await gateway.post("/v1/jobs", json=CHAIN, headers={"Prefer": "wait=20"})
    assert response.status_code == 201, response.text
    assert response.headers["preference-applied"] == "wait=20"
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "succeeded" and job["outputs"] == {"text": "hi>one>two>three"}
    assert [s["status"] for s in job["steps"]] == ["succeeded"] * 3
    assert job == (await gateway.get(f"/v1/jobs/{job['id']}")).json()


async def test_a_bare_wait_or_one_over_60_counts_as_60(gateway):
    for header in ("wait", "wait=3600"):
        response = await gateway.post("/v1/jobs", json=CHAIN, headers={"Prefer": header})
        assert response.status_code == 201, response.text
        assert response.headers["preference-applied"] == "wait=60"


async def test_a_failed_job_is_an_ended_job_201(gateway, fake_worker):
    fake_worker.plan["one"] = Behaviour(fail_times=10, retryable=False, status=422)
    response = await gateway.post("/v1/jobs", json=CHAIN, headers={"Prefer": "wait=20"})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "failed" and job["error"]["step_id"] == "one"


async def test_a_job_still_running_when_the_wait_ends_answers_202(gateway, fake_worker):
    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)
    response = await gateway.post("/v1/jobs", json=CHAIN, headers={"Prefer": "wait=1"})
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "wait=1"
    job = response.json()
    assert job["status"] == "running" and response.headers["location"] == f"/v1/jobs/{job['id']}"
    release.set()
    assert (await wait_for_job(gateway, job["id"]))["status"] == "succeeded"


async def test_without_prefer_nothing_changes(gateway):
    response = await gateway.post("/v1/jobs", json=CHAIN)
    assert response.status_code == 202 and "preference-applied" not in response.headers
    assert response.json()["status"] in ("queued", "running")


async def test_a_malformed_wait_is_a_400_problem_and_stores_no_job(gateway):
    response = await gateway.post("/v1/jobs", json=CHAIN, headers={"Prefer": "wait=soon"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "wait=N" in response.json()["detail"]
    assert (await gateway.get("/v1/jobs")).json()["items"] == []


async def test_multipart_submits_wait_too(gateway):
    response = await gateway.post(
        "/v1/jobs",
        data={"pipeline": "speech_to_text"},
        files={"audio": ("a.wav", wav_bytes(0.1, 8000), "audio/wav")},
        headers={"Prefer": "wait=20"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["outputs"]["transcript"].startswith("heard ")


async def test_many_waiting_requests_hold_no_database_connection(make_gateway, fake_worker):
    """More waiting requests than the engine has connections (10 + 10 overflow on PostgreSQL, 10 + 10 on
    SQLite): if a wait held one, the runner could not write and nothing would end within the wait."""
    gateway = await make_gateway()
    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)

    async def waiting(i: int) -> httpx.Response:
        body = {"pipeline": "chain", "inputs": {"text": f"t{i}"}}
        return await gateway.post("/v1/jobs", json=body, headers={"Prefer": "wait=50"})

    requests = [asyncio.create_task(waiting(i)) for i in range(40)]
    await fake_worker.wait_for_in_flight(40)
    release.set()
    answers = await asyncio.gather(*requests)
    assert [a.status_code for a in answers] == [201] * 40
    assert {a.json()["outputs"]["text"] for a in answers} == {f"t{i}>one>two>three" for i in range(40)}


@pytest.mark.slow
async def test_an_api_process_waits_for_a_runner_in_another_process(
    database_url, files_root, fake_worker, tmp_path
):
    """role=api gets no in-process wake-up: the slow poll sees the other process's runner finish."""
    api = GatewayProcess(
        process_env(database_url, files_root, fake_worker, MODALINE_ROLE="api"), tmp_path / "api.log"
    )
    runner = GatewayProcess(
        process_env(database_url, files_root, fake_worker, MODALINE_ROLE="runner"), tmp_path / "runner.log"
    )
    try:
        await api.start()
        await runner.start()
        async with httpx.AsyncClient(base_url=api.url, timeout=70) as client:
            response = await client.post("/v1/jobs", json=CHAIN, headers={"Prefer": "wait=30"})
    finally:
        api.stop()
        runner.stop()
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "succeeded"
    assert response.json()["outputs"] == {"text": "hi>one>two>three"}
