"""Data lifecycle on both databases: DELETE of jobs and files, the retention janitor, orphaned uploads,
stray bytes, low disk space, and what /metrics shows of it."""

from __future__ import annotations

import asyncio
import io
import os
import re
import time
import wave
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_fakes import Behaviour
from gateway_helpers import submit, wait_for_job
from sqlalchemy import func, select, update

from gateway.janitor import Janitor
from gateway.settings import Settings
from gateway.store import create_engine
from gateway.store.lifecycle import set_tenant_retention
from gateway.store.models import EVENTS, FILE_DELETIONS, FILES, JOB_FILES, JOBS, STEPS, utcnow
from workers.kit.testing import png_bytes

pytestmark = pytest.mark.anyio


async def upload(client: httpx.AsyncClient, data: bytes | None = None) -> dict[str, Any]:
    answer = await client.post("/v1/files", files={"file": ("p.png", data or png_bytes(), "image/png")})
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def keepsake(client: httpx.AsyncClient, photo_id: str, text: str = "a cat") -> dict[str, Any]:
    job = await submit(client, "keepsake", photo=photo_id, text=text)
    done = await wait_for_job(client, job["id"])
    assert done["status"] == "succeeded", done
    return done


def stored(files_root: Path) -> set[str]:
    """Every key under the files root (the scratch directory aside)."""
    return {
        p.relative_to(files_root).as_posix()
        for p in files_root.rglob("*")
        if p.is_file() and not p.relative_to(files_root).as_posix().startswith(".tmp")
    }


async def count(database_url: str, table: Any, *where: Any) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()
            )
    finally:
        await engine.dispose()


async def execute(database_url: str, statement: Any) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(statement)
    finally:
        await engine.dispose()


def janitor_of(client: httpx.AsyncClient) -> Janitor:
    janitor = client.app.state.janitor  # type: ignore[attr-defined]
    assert janitor is not None
    return janitor


# --- DELETE ---------------------------------------------------------------------------------------------


async def test_deleting_a_finished_three_step_job_removes_what_is_only_its_own(
    gateway, database_url, files_root
):
    photo = await upload(gateway)
    first = await keepsake(gateway, photo["id"])
    second = await keepsake(gateway, photo["id"], text="a dog")  # shares the upload
    outputs = {f"jobs/{first['id']}/{step}" for step in ("paint", "draw", "speak")}
    assert {
        key.rsplit("/", 1)[0] for key in stored(files_root) if key.startswith(f"jobs/{first['id']}/")
    } == outputs
    photo_key = f"uploads/{photo['id']}"

    deleted = await gateway.delete(f"/v1/jobs/{first['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await gateway.get(f"/v1/jobs/{first['id']}")).status_code == 404
    assert (await gateway.get(f"/v1/jobs/{first['id']}/events")).status_code == 404
    again = await gateway.delete(f"/v1/jobs/{first['id']}")
    assert again.status_code == 404 and again.headers["content-type"] == "application/problem+json"
    keys = stored(files_root)
    assert not any(key.startswith(f"jobs/{first['id']}") for key in keys)  # its outputs are gone
    assert photo_key in keys  # the other job still uses the upload
    for table in (STEPS, EVENTS, JOB_FILES):
        assert await count(database_url, table, table.c.job_id == first["id"]) == 0
    assert await count(database_url, FILES, FILES.c.job_id == first["id"]) == 0
    assert await count(database_url, FILE_DELETIONS) == 0  # the bytes went at once
    for name, file in second["outputs"].items():  # the other job is whole
        assert (await gateway.get(file["url"])).status_code == 200, name
    assert (await gateway.get(f"/v1/files/{photo['id']}")).status_code == 200

    assert (await gateway.delete(f"/v1/jobs/{second['id']}")).status_code == 204
    assert stored(files_root) == set()  # the last job that used the upload took it along
    assert await count(database_url, FILES) == 0 and await count(database_url, JOBS) == 0
    assert (await gateway.delete(f"/v1/files/{photo['id']}")).status_code == 404


async def test_a_running_job_is_refused_with_409_until_it_is_canceled(gateway, fake_worker):
    release = asyncio.Event()
    fake_worker.plan["one"] = Behaviour(block=release)
    job = await submit(gateway, "chain", text="x")
    await fake_worker.wait_for_call("one")
    refused = await gateway.delete(f"/v1/jobs/{job['id']}")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "cancel it first" in refused.json()["detail"]
    assert (await gateway.get(f"/v1/jobs/{job['id']}")).json()["status"] == "running"  # untouched
    await gateway.post(f"/v1/jobs/{job['id']}/cancel")
    await wait_for_job(gateway, job["id"])
    release.set()
    assert (await gateway.delete(f"/v1/jobs/{job['id']}")).status_code == 204


async def test_the_event_stream_of_a_job_deleted_while_followed_ends(gateway, fake_worker, database_url):
    # The route's own stream, driven as the ASGI server drives it (httpx's ASGI transport hands a body over
    # only once it is complete).
    from gateway.api.event_stream import JobEventStream
    from gateway.store.db import write_tx
    from gateway.store.lifecycle import delete_jobs_sync

    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)
    job = await submit(gateway, "chain", text="x")
    await fake_worker.wait_for_call("two")
    app = gateway.app  # type: ignore[attr-defined]
    hub = app.state.hub
    body: list[bytes] = []
    following = asyncio.Event()
    stream = JobEventStream(
        engine=app.state.engine,
        subscription=hub.subscribe(tenant_id="default", job_id=job["id"]),
        settled=hub.settled,
        tenant_id="default",
        job_id=job["id"],
        after=0,
        ping_seconds=0.05,
        send_timeout=10,
    )

    async def receive() -> dict[str, object]:
        await asyncio.Event().wait()  # the client never hangs up
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))  # type: ignore[arg-type]
            if b"event: step.running" in b"".join(body):
                following.set()

    reader = asyncio.create_task(stream({"type": "http"}, receive, send))
    await asyncio.wait_for(following.wait(), 10)
    # Its rows vanish under the open stream, and the deleting process tells its hub (as DELETE and the
    # janitor do).
    engine = create_engine(database_url)
    try:
        async with write_tx(engine) as conn:
            await conn.run_sync(delete_jobs_sync, [job["id"]])
    finally:
        await engine.dispose()
    hub.end_jobs([job["id"]])
    await asyncio.wait_for(reader, 10)  # the stream ended by itself, without an error
    text = b"".join(body).decode()
    assert "event: job.queued" in text and "event: job.running" in text and "job.succeeded" not in text
    assert text.rstrip().endswith(": closed: the job was deleted")
    release.set()


async def test_deleting_an_upload_no_job_uses_and_refusing_one_in_use(gateway, files_root, database_url):
    loose = await upload(gateway)
    used = await upload(gateway, png_bytes(8, 8))
    job = await keepsake(gateway, used["id"])
    assert (await gateway.delete(f"/v1/files/{loose['id']}")).status_code == 204
    assert f"uploads/{loose['id']}" not in stored(files_root)
    assert (await gateway.get(f"/v1/files/{loose['id']}")).status_code == 404
    assert (await gateway.delete(f"/v1/files/{loose['id']}")).status_code == 404
    in_use = await gateway.delete(f"/v1/files/{used['id']}")
    assert in_use.status_code == 409 and job["id"] in in_use.json()["detail"]
    output = job["outputs"]["picture"]
    owned = await gateway.delete(f"/v1/files/{output['id']}")
    assert owned.status_code == 409 and f"DELETE /v1/jobs/{job['id']}" in owned.json()["detail"]
    assert f"uploads/{used['id']}" in stored(files_root)


async def test_a_job_using_another_jobs_output_keeps_it_when_that_job_goes(gateway, files_root):
    photo = await upload(gateway)
    first = await keepsake(gateway, photo["id"])
    drawn = first["outputs"]["drawn"]
    second = await keepsake(gateway, drawn["id"])
    assert (await gateway.delete(f"/v1/jobs/{first['id']}")).status_code == 204
    assert (await gateway.get(drawn["url"])).status_code == 200  # still an input of the second job
    assert f"uploads/{photo['id']}" not in stored(files_root)
    assert (await gateway.delete(f"/v1/jobs/{second['id']}")).status_code == 204
    assert (await gateway.get(drawn["url"])).status_code == 404
    await janitor_of(gateway).run_once(sweep=True)
    assert stored(files_root) == set()


# --- retention ------------------------------------------------------------------------------------------


async def age_jobs(database_url: str, job_ids: list[str], by: timedelta) -> None:
    await execute(database_url, update(JOBS).where(JOBS.c.id.in_(job_ids)).values(finished_at=utcnow() - by))


async def test_retention_deletes_old_jobs_and_keeps_young_ones(make_gateway, database_url, files_root):
    gateway = await make_gateway(retention_days=1, janitor_interval_seconds=3600)
    photo = await upload(gateway)
    old = [await keepsake(gateway, photo["id"]) for _ in range(3)]
    young = await keepsake(gateway, photo["id"])
    assert young["expires_at"] is not None
    shown = (await gateway.get(f"/v1/jobs/{young['id']}")).json()
    finished = shown["finished_at"].replace("Z", "+00:00")
    from datetime import datetime

    assert datetime.fromisoformat(shown["expires_at"]) - datetime.fromisoformat(finished) == timedelta(days=1)
    await age_jobs(database_url, [job["id"] for job in old], timedelta(days=1, minutes=1))
    done = await janitor_of(gateway).run_once()
    assert done.jobs == 3
    for job in old:
        assert (await gateway.get(f"/v1/jobs/{job['id']}")).status_code == 404
    assert (await gateway.get(f"/v1/jobs/{young['id']}")).json()["status"] == "succeeded"
    keys = stored(files_root)
    assert not any(key.startswith(f"jobs/{job['id']}") for job in old for key in keys)
    assert any(key.startswith(f"jobs/{young['id']}/") for key in keys)
    assert f"uploads/{photo['id']}" in keys  # the young job still uses it
    metrics = (await gateway.get("/metrics")).text
    assert 'modaline_janitor_deleted_total{what="jobs"} 3.0' in metrics


async def test_small_batches_and_a_tenant_override(make_gateway, database_url):
    gateway = await make_gateway(janitor_interval_seconds=3600, janitor_batch=2)  # no global retention
    jobs = [await submit(gateway, "chain", text=str(i)) for i in range(5)]
    for job in jobs:
        await wait_for_job(gateway, job["id"])
    await age_jobs(database_url, [job["id"] for job in jobs], timedelta(hours=2))
    janitor = janitor_of(gateway)
    assert (await janitor.run_once()).jobs == 0  # unset: kept forever
    assert (await gateway.get(f"/v1/jobs/{jobs[0]['id']}")).json()["expires_at"] is None
    engine = create_engine(database_url)
    try:
        await set_tenant_retention(engine, tenant_id="default", retention_days=1 / 24, upload_ttl_hours=None)
    finally:
        await engine.dispose()
    assert (await janitor.run_once()).jobs == 5  # in batches of two, one pass
    assert await count(database_url, JOBS) == 0


async def test_an_orphaned_upload_is_swept_after_its_ttl_and_a_used_one_never(
    make_gateway, database_url, files_root
):
    gateway = await make_gateway(upload_ttl_hours=0.5, janitor_interval_seconds=3600)
    orphan = await upload(gateway)
    used = await upload(gateway, png_bytes(8, 8))
    fresh = await upload(gateway, png_bytes(9, 9))
    await keepsake(gateway, used["id"])
    old = utcnow() - timedelta(hours=1)
    await execute(
        database_url, update(FILES).where(FILES.c.id.in_([orphan["id"], used["id"]])).values(created_at=old)
    )
    done = await janitor_of(gateway).run_once()
    assert done.files == {("upload", "image"): 1}
    keys = stored(files_root)
    assert f"uploads/{orphan['id']}" not in keys
    assert {f"uploads/{used['id']}", f"uploads/{fresh['id']}"} <= keys
    assert (await gateway.get(f"/v1/files/{orphan['id']}")).status_code == 404
    assert (await gateway.get(f"/v1/files/{used['id']}")).status_code == 200


async def test_stray_bytes_are_swept_only_when_old_and_unreferenced(make_gateway, files_root, database_url):
    gateway = await make_gateway(janitor_interval_seconds=3600)
    photo = await upload(gateway)
    job = await keepsake(gateway, photo["id"])
    long_ago = time.time() - 86_400
    strays = {"uploads/0123abc", "jobs/ghost/step/out.png"}
    recent = {"uploads/fresh", "jobs/ghost2/step/out.png"}
    for key in strays | recent:
        (files_root / key).parent.mkdir(parents=True, exist_ok=True)
        (files_root / key).write_bytes(b"x")
    unrecorded = f"jobs/{job['id']}/extra/half.png"  # its job exists: never a stray
    (files_root / unrecorded).parent.mkdir(parents=True, exist_ok=True)
    (files_root / unrecorded).write_bytes(b"x")
    for key in [*strays, unrecorded, f"uploads/{photo['id']}"]:
        os.utime(files_root / key, (long_ago, long_ago))
    done = await janitor_of(gateway).run_once(sweep=True)
    assert done.strays == 2
    keys = stored(files_root)
    assert not strays & keys
    assert recent | {unrecorded, f"uploads/{photo['id']}"} <= keys


# --- disk and metrics -----------------------------------------------------------------------------------


async def test_low_disk_space_refuses_new_work_with_507_but_stays_ready(make_gateway, fake_worker):
    gateway = await make_gateway(min_free_bytes=2**62)
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200
    assert "below MODALINE_MIN_FREE_BYTES" in ready.json()["disk"]
    for answer in (
        await gateway.post("/v1/files", files={"file": ("p.png", png_bytes(), "image/png")}),
        await gateway.post("/v1/jobs", json={"pipeline": "chain", "inputs": {"text": "x"}}),
    ):
        assert answer.status_code == 507
        assert answer.headers["content-type"] == "application/problem+json"
        assert "delete jobs or files" in answer.json()["detail"]


async def test_metrics_count_files_and_bytes_by_origin_and_kind(gateway):
    photo = await upload(gateway)
    await keepsake(gateway, photo["id"])
    metrics = (await gateway.get("/metrics")).text
    assert 'modaline_files{kind="image",origin="upload"} 1.0' in metrics
    assert f'modaline_file_bytes{{kind="image",origin="upload"}} {float(photo["bytes"])}' in metrics
    assert 'modaline_files{kind="image",origin="output"} 2.0' in metrics
    assert 'modaline_files{kind="audio",origin="output"} 1.0' in metrics
    assert "modaline_files_free_bytes " in metrics


# --- the two defects --------------------------------------------------------------------------------------

_SIZE_IN_WORDS = re.compile(r"\d\s*(?:bytes|[kKMG]i?B)\b")


async def test_one_upload_limit_is_served_enforced_and_never_written_into_descriptions(make_gateway):
    gateway = await make_gateway(role="api")
    default = Settings.model_fields["max_upload_bytes"].default
    assert default == 50_000_000  # a 50 MB recording is a normal thing to send
    for pipeline in (await gateway.get("/v1/pipelines")).json()["items"]:
        assert not _SIZE_IN_WORDS.search(pipeline["description"]), pipeline["name"]
        for name, field in pipeline["inputs"].items():
            assert not _SIZE_IN_WORDS.search(field["description"]), (pipeline["name"], name)
            if field["type"] in ("image", "audio"):
                assert field["max_bytes"] <= default
    speech = (await gateway.get("/v1/pipelines/speech_to_text")).json()["inputs"]["audio"]
    assert speech["max_bytes"] == default
    recording = io.BytesIO()
    with wave.open(recording, "wb") as out:  # a 46 MB WAV, as the user sent
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(46_000_000))
    answer = await gateway.post("/v1/files", files={"file": ("talk.wav", recording.getvalue(), "audio/wav")})
    assert answer.status_code == 201, answer.text
    job = await gateway.post(
        "/v1/jobs", json={"pipeline": "speech_to_text", "inputs": {"audio": answer.json()["id"]}}
    )
    assert job.status_code == 202, job.text


async def test_a_tenant_retention_override_is_set_by_an_operator(make_gateway, database_url):
    from test_gateway_auth import bearer, new_key

    secured = await make_gateway(auth="keys", signing_key="test-signing-key-1", janitor_interval_seconds=3600)
    operator = await new_key(database_url, "ops", "admin", operator=True)
    tenant_admin = await new_key(database_url, "acme", "admin")
    body = {"retention_days": 0.5, "upload_ttl_hours": 2}
    done = await secured.put("/v1/admin/tenants/acme/retention", json=body, headers=bearer(operator))
    assert done.status_code == 200 and done.json() == body
    refused = await secured.put("/v1/admin/tenants/acme/retention", json=body, headers=bearer(tenant_admin))
    assert refused.status_code == 403
    missing = await secured.put("/v1/admin/tenants/nosuch/retention", json=body, headers=bearer(operator))
    assert missing.status_code == 404
    bad = await secured.put(
        "/v1/admin/tenants/acme/retention", json={"retention_days": -1}, headers=bearer(operator)
    )
    assert bad.status_code == 422
    policy = await janitor_of(secured).policy()
    assert policy.days_for("acme") == 0.5 and policy.ttl_for("acme") == 2 and policy.days_for("other") is None
