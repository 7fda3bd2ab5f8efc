"""SSE event streams (resume with Last-Event-ID) and file downloads (Range), on both databases."""

from __future__ import annotations

import asyncio
import json

import pytest
from gateway_fakes import Behaviour
from gateway_helpers import submit, wait_for_job

from workers.kit.testing import png_bytes

pytestmark = pytest.mark.anyio


def parse_sse(text: str) -> list[dict]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
        )
        if "data" in fields:
            events.append(
                {"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])}
            )
    return events


async def test_stream_follows_a_running_job_and_ends_after_the_terminal_event(gateway, fake_worker):
    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)
    job = await submit(gateway, "chain", text="x")

    async def let_go():
        await fake_worker.wait_for_call("two")
        await asyncio.sleep(0.1)
        release.set()

    helper = asyncio.create_task(let_go())
    response = await gateway.get(f"/v1/jobs/{job['id']}/events")  # returns once the stream has closed
    await helper
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [e["event"] for e in events] == [
        "job.queued",
        "job.running",
        "step.running",
        "step.succeeded",
        "step.running",
        "step.succeeded",
        "step.running",
        "step.succeeded",
        "job.succeeded",
    ]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    first = events[2]["data"]
    assert (
        first["job_id"] == job["id"] and first["step_id"] == "one" and first["attempt"] == 1 and first["at"]
    )
    assert first["seq"] == events[2]["id"] and events[-1]["data"]["status"] == "succeeded"


async def test_stream_resumes_after_last_event_id(gateway):
    job = await submit(gateway, "chain", text="x")
    await wait_for_job(gateway, job["id"])
    everything = parse_sse((await gateway.get(f"/v1/jobs/{job['id']}/events")).text)
    cut = everything[3]["id"]
    rest = parse_sse(
        (await gateway.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": str(cut)})).text
    )
    assert [e["id"] for e in rest] == [e["id"] for e in everything[4:]]
    after_end = await gateway.get(
        f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": str(everything[-1]["id"])}
    )
    assert parse_sse(after_end.text) == []  # nothing more will come: the stream closes at once
    bad = await gateway.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": "soon"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")


async def test_upload_then_download_whole_and_ranges(gateway):
    data = png_bytes(64)
    upload = await gateway.post("/v1/files", files={"file": ("pic.png", data, "image/png")})
    assert upload.status_code == 201
    meta = upload.json()
    assert meta["kind"] == "image" and meta["bytes"] == len(data) and meta["url"] == f"/v1/files/{meta['id']}"
    assert upload.headers["location"] == meta["url"]
    whole = await gateway.get(meta["url"])
    assert whole.status_code == 200 and whole.content == data and whole.headers["content-type"] == "image/png"
    part = await gateway.get(meta["url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    tail = await gateway.get(meta["url"], headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    beyond = await gateway.get(meta["url"], headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416
    missing = await gateway.get("/v1/files/0123456789abcdef")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(
        "application/problem+json"
    )


async def test_step_output_files_are_downloadable_with_range(gateway):
    done = await wait_for_job(gateway, (await submit(gateway, "text_to_speech", text="hello"))["id"])
    audio = done["outputs"]["audio"]
    assert audio["kind"] == "audio" and audio["content_type"] == "audio/wav"
    head = await gateway.get(audio["url"], headers={"Range": "bytes=0-3"})
    assert head.status_code == 206 and head.content == b"RIFF"
