"""Live event streams through the hub, on both databases: replay-then-follow across a burst, a job run by
another process, a stalled client cut off and resumed, and the cap on open streams."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from gateway_fakes import Behaviour
from gateway_helpers import GatewayProcess, append_events, log_seqs, submit, until
from test_gateway_events_files import parse_sse
from test_gateway_processes import process_env

from gateway.store import create_engine

pytestmark = pytest.mark.anyio

TERMINAL = {"job.succeeded", "job.failed", "job.canceled"}


def ids(events: list[dict[str, Any]]) -> list[int]:
    return [e["id"] for e in events]


async def test_replay_then_follow_loses_and_repeats_nothing_across_a_burst(gateway, fake_worker):
    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)
    job = (await submit(gateway, "chain", text="x"))["id"]
    await fake_worker.wait_for_call("two")
    engine, hub = gateway.app.state.engine, gateway.app.state.hub

    async def burst() -> None:
        for _ in range(40):
            await append_events(engine, job, 5)
            await asyncio.sleep(0.003)

    writing = asyncio.create_task(burst())
    await asyncio.sleep(0.05)  # the burst is under way
    middle = (await log_seqs(engine, job))[4]
    streams = [
        asyncio.create_task(gateway.get(f"/v1/jobs/{job}/events", headers=headers))
        for headers in ({}, {"Last-Event-ID": str(middle)}, {})
    ]
    await until(lambda: hub.subscribers() == 3)  # subscribed while the burst still writes
    assert not writing.done()
    await writing
    release.set()
    responses = await asyncio.gather(*streams)
    log = await log_seqs(engine, job)
    assert len(log) > 200
    for response, after in zip(responses, (0, middle, 0), strict=True):
        events = parse_sse(response.text)
        assert ids(events) == [seq for seq in log if seq > after]  # every event once, in order
        assert events[-1]["event"] == "job.succeeded"
    assert hub.subscribers() == 0


@pytest.mark.parametrize("cap", ["sse_max_streams", "sse_max_streams_per_tenant"])
async def test_the_open_stream_cap_answers_429(make_gateway, fake_worker, cap):
    gateway = await make_gateway(**{cap: 1})
    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)
    job = (await submit(gateway, "chain", text="x"))["id"]
    hub = gateway.app.state.hub
    first = asyncio.create_task(gateway.get(f"/v1/jobs/{job}/events"))
    await until(lambda: hub.subscribers() == 1)
    refused = await gateway.get(f"/v1/jobs/{job}/events")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["Retry-After"]) > 0
    assert "open event streams" in refused.json()["detail"]
    assert "modaline_event_subscriptions 1.0" in (await gateway.get("/metrics")).text
    release.set()
    done = await first
    assert done.status_code == 200 and parse_sse(done.text)[-1]["event"] == "job.succeeded"
    again = await gateway.get(f"/v1/jobs/{job}/events")  # the first one closed: room again
    assert again.status_code == 200


async def test_a_stream_on_another_process_job_gets_its_events(
    make_gateway, database_url, files_root, fake_worker, tmp_path
):
    postgres = database_url.startswith("postgresql")
    # On PostgreSQL the API's hub polls only every 30 s: the events must come by LISTEN/NOTIFY.
    api = await make_gateway(role="api", sse_poll_seconds=30.0 if postgres else 0.05)
    runner = GatewayProcess(
        process_env(database_url, files_root, fake_worker, MODALINE_ROLE="runner"), tmp_path / "runner.log"
    )
    fake_worker.plan["two"] = Behaviour(delay=0.3)
    try:
        await runner.start()
        job = (await submit(api, "chain", text="x"))["id"]
        response = await api.get(f"/v1/jobs/{job}/events")
    finally:
        runner.stop()
    events = parse_sse(response.text)
    engine = api.app.state.engine
    assert ids(events) == await log_seqs(engine, job)
    assert events[1]["event"] == "job.running" and "claimed by runner" in events[1]["data"]["detail"]
    assert events[-1]["event"] == "job.succeeded"
    hub = api.app.state.hub
    if postgres:
        assert hub.listener is not None and hub.listener.notifications > 0


def _dechunk(raw: bytes) -> bytes:
    """The body of a chunked response, as far as it arrived (a cut-off leaves it unfinished)."""
    out, rest = bytearray(), raw
    while rest:
        line, sep, after = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(line, 16)
        if size == 0:
            break
        out += after[:size]
        rest = after[size + 2 :]
    return bytes(out)


def _stalled_client(port: int, job: str, got_first: Any, resume: Any) -> bytes:
    """A raw socket client with a tiny receive buffer: reads the first event, stops reading until
    ``resume`` is set, then reads to the end of the connection. Returns the whole response."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /v1/jobs/{job}/events HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    raw = b""
    while b"event: job.running" not in raw:
        raw += sock.recv(4096)
    got_first.set()
    resume.wait(60)
    while chunk := sock.recv(65536):
        raw += chunk
    sock.close()
    return raw


async def test_a_stalled_client_is_cut_off_and_resumes_exactly(
    database_url, files_root, fake_worker, tmp_path
):
    import threading

    env = process_env(
        database_url,
        files_root,
        fake_worker,
        MODALINE_SSE_QUEUE_EVENTS="20",
        MODALINE_SSE_SEND_TIMEOUT_SECONDS="3",
        MODALINE_SSE_POLL_SECONDS="0.05",
    )
    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)
    server = GatewayProcess(env, tmp_path / "gateway.log")
    engine = create_engine(database_url)
    try:
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            job = (await submit(client, "chain", text="x"))["id"]
            await fake_worker.wait_for_call("two")
            got_first, resume = threading.Event(), threading.Event()
            stalled = asyncio.create_task(
                asyncio.to_thread(_stalled_client, server.port, job, got_first, resume)
            )
            await until(got_first.is_set)
            for _ in range(20):  # ~1 MB of events the client does not read
                await append_events(engine, job, 25, detail="x" * 2000)
                await asyncio.sleep(0.01)
            await asyncio.sleep(4)  # past the send timeout: the gateway has let go of this client
            resume.set()
            raw = await stalled  # ends: the gateway closed the connection while the job still runs
            head, _, body = raw.partition(b"\r\n\r\n")
            assert b" 200 " in head.split(b"\r\n")[0]
            first_part = parse_sse(_dechunk(body).decode(errors="replace").rsplit("\n\n", 1)[0] + "\n\n")
            assert first_part and first_part[-1]["event"] not in TERMINAL
            last = first_part[-1]["id"]
            resumed = asyncio.create_task(
                client.get(f"/v1/jobs/{job}/events", headers={"Last-Event-ID": str(last)})
            )
            await asyncio.sleep(0.3)
            release.set()
            second_part = parse_sse((await resumed).text)
        log = await log_seqs(engine, job)
    finally:
        server.stop()
        await engine.dispose()
    assert last < log[-1]  # it was cut off before the end
    assert ids(first_part) + ids(second_part) == log  # resumed exactly: nothing lost, nothing twice
    assert second_part[-1]["event"] == "job.succeeded"
