"""The jobs API as a client sees it: submit (JSON, multipart), read, list, cancel, idempotency, errors."""

from __future__ import annotations

import asyncio

import pytest
from gateway_fakes import Behaviour
from gateway_helpers import submit, wait_for_job

from workers.kit.testing import png_bytes, wav_bytes

pytestmark = pytest.mark.anyio
PROBLEM = "application/problem+json"


def assert_problem(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and "type" in body
    if fields:
        assert {e["field"] for e in body["errors"]} >= set(fields), body
    return body


async def test_job_lifecycle_steps_usage_and_events(gateway):
    response = await gateway.post("/v1/jobs", json={"pipeline": "chain", "inputs": {"text": "hi"}})
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running") and [s["id"] for s in job["steps"]] == [
        "one",
        "two",
        "three",
    ]
    done = await wait_for_job(gateway, job["id"])
    assert done["status"] == "succeeded"
    assert done["outputs"] == {"text": "hi>one>two>three"}
    assert all(s["status"] == "succeeded" and s["attempts"] == 1 for s in done["steps"])
    assert done["steps"][0]["backend"] == "fake" and done["steps"][0]["model"] == "fake-1"
    assert done["usage"]["input_tokens"] == 9 and done["usage"]["output_tokens"] == 6
    assert done["started_at"] and done["finished_at"] >= done["started_at"]
    events = (await gateway.get(f"/v1/jobs/{job['id']}/events")).text
    kinds = [line.split(": ", 1)[1] for line in events.splitlines() if line.startswith("event: ")]
    assert kinds[:2] == ["job.queued", "job.running"] and kinds[-1] == "job.succeeded"
    assert kinds.count("step.succeeded") == 3 and kinds.count("step.running") == 3


async def test_image_output_is_a_downloadable_file(gateway):
    job = await submit(gateway, "text_to_image", text="a red fox")
    done = await wait_for_job(gateway, job["id"])
    image = done["outputs"]["image"]
    assert image["kind"] == "image" and image["content_type"] == "image/png"
    assert image["url"] == f"/v1/files/{image['id']}"
    assert done["steps"][1]["outputs"]["image"]["id"] == image["id"]
    assert done["steps"][1]["placeholder"] is True  # the fake labels its drawing as a placeholder
    body = (await gateway.get(image["url"])).content
    assert body.startswith(b"\x89PNG") and len(body) == image["bytes"]


async def test_multipart_submit_with_real_wav(gateway):
    audio = wav_bytes()
    response = await gateway.post(
        "/v1/jobs", data={"pipeline": "speech_to_text"}, files={"audio": ("talk.wav", audio, "audio/wav")}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["inputs"]["audio"]["kind"] == "audio" and job["inputs"]["audio"]["bytes"] == len(audio)
    done = await wait_for_job(gateway, job["id"])
    assert done["status"] == "succeeded"
    assert done["outputs"]["transcript"] == f"heard {len(audio)} bytes"
    assert (await gateway.get(job["inputs"]["audio"]["url"])).content == audio


async def test_json_submit_with_uploaded_png(gateway):
    upload = await gateway.post("/v1/files", files={"file": ("cat.png", png_bytes(), "image/png")})
    assert upload.status_code == 201
    file_id = upload.json()["id"]
    job = await submit(gateway, "image_to_image", image=file_id, style="style-03")
    assert job["inputs"]["image"]["id"] == file_id and job["inputs"]["style"] == "style-03"
    done = await wait_for_job(gateway, job["id"])
    assert done["status"] == "succeeded"
    assert done["outputs"]["image"]["sha256"] == upload.json()["sha256"]  # the fake copies the picture


async def test_idempotency_key_returns_the_same_job(gateway, fake_worker):
    headers = {"Idempotency-Key": "order-42"}
    body = {"pipeline": "chain", "inputs": {"text": "once"}}
    first = await gateway.post("/v1/jobs", json=body, headers=headers)
    second = await gateway.post("/v1/jobs", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    await wait_for_job(gateway, first.json()["id"])
    listed = (await gateway.get("/v1/jobs")).json()["items"]
    assert len(listed) == 1 and fake_worker.step_calls("one") == 1
    other = await gateway.post("/v1/jobs", json={**body, "inputs": {"text": "twice"}}, headers=headers)
    assert "order-42" in assert_problem(other, 422)["detail"]


async def test_idempotent_multipart_retry_keeps_one_job(gateway):
    files = {"audio": ("a.wav", wav_bytes(), "audio/wav")}
    headers = {"Idempotency-Key": "upload-1"}
    first = await gateway.post("/v1/jobs", data={"pipeline": "speech_to_text"}, files=files, headers=headers)
    second = await gateway.post("/v1/jobs", data={"pipeline": "speech_to_text"}, files=files, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["inputs"]["audio"]["id"] == second.json()["inputs"]["audio"]["id"]


async def test_list_filters_and_cursor_pagination(gateway):
    ids = []
    for i in range(5):
        ids.append((await submit(gateway, "chain", text=f"n{i}"))["id"])
        await asyncio.sleep(0.002)  # distinct creation times
    fanout = (await submit(gateway, "fanout", text="f"))["id"]
    for job_id in [*ids, fanout]:
        await wait_for_job(gateway, job_id)
    seen, cursor = [], None
    while True:
        params = {"pipeline": "chain", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await gateway.get("/v1/jobs", params=params)).json()
        seen += [job["id"] for job in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first, no gaps, no repeats
    everything = (await gateway.get("/v1/jobs", params={"status": "succeeded"})).json()["items"]
    assert everything[0]["id"] == fanout and len(everything) == 6
    assert (await gateway.get("/v1/jobs", params={"status": "failed"})).json() == {
        "items": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"pipeline": "nope", "inputs": {}}, 404, None),
        ({"pipeline": "chain", "inputs": {}}, 422, "text"),
        ({"pipeline": "chain", "inputs": {"text": "x", "extra": 1}}, 422, "extra"),
        ({"pipeline": "chain", "inputs": {"text": "x" * 1001}}, 422, "text"),
        ({"pipeline": "image_to_image", "inputs": {"image": "missing-id"}}, 422, "image"),
        ({"inputs": {}}, 422, "pipeline"),
    ],
)
async def test_bad_submissions_are_problems(gateway, body, status, field):
    response = await gateway.post("/v1/jobs", json=body)
    problem = assert_problem(response, status, *([field] if field else []))
    assert problem["detail"]


async def test_malformed_json_is_a_422_problem(gateway):
    response = await gateway.post(
        "/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


async def test_wrong_file_type_and_too_large(make_gateway):
    gateway = await make_gateway(max_upload_bytes=4096)
    wrong = await gateway.post(
        "/v1/jobs", data={"pipeline": "speech_to_text"}, files={"audio": ("x.png", png_bytes(), "image/png")}
    )
    assert_problem(wrong, 422, "audio")
    big = await gateway.post(
        "/v1/jobs",
        data={"pipeline": "speech_to_text"},
        files={"audio": ("x.wav", wav_bytes(1.0), "audio/wav")},
    )
    assert_problem(big, 413)
    not_media = await gateway.post("/v1/files", files={"file": ("x.txt", b"just text " * 20, "text/plain")})
    assert not_media.status_code in (415, 422) and not_media.headers["content-type"].startswith(PROBLEM)
    assert (await gateway.get("/v1/jobs")).json()["items"] == []


async def test_unknown_job_bad_cursor_bad_status(gateway):
    assert "nope" in assert_problem(await gateway.get("/v1/jobs/nope"), 404)["detail"]
    assert_problem(await gateway.post("/v1/jobs/nope/cancel"), 404)
    assert_problem(await gateway.get("/v1/jobs/nope/events"), 404)
    assert_problem(await gateway.get("/v1/jobs", params={"cursor": "garbage!"}), 400)
    assert_problem(await gateway.get("/v1/jobs", params={"status": "sleeping"}), 422, "status")
    assert_problem(await gateway.get("/v1/nothing-here"), 404)
    assert_problem(await gateway.delete("/v1/jobs"), 405)


async def test_cancel_a_finished_job_is_a_conflict(gateway):
    job = await submit(gateway, "chain", text="x")
    await wait_for_job(gateway, job["id"])
    assert "succeeded" in assert_problem(await gateway.post(f"/v1/jobs/{job['id']}/cancel"), 409)["detail"]


async def test_cancel_a_queued_job(make_gateway):
    api_only = await make_gateway(role="api")
    job = await submit(api_only, "chain", text="x")
    response = await api_only.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    canceled = response.json()
    assert canceled["status"] == "canceled" and {s["status"] for s in canceled["steps"]} == {"skipped"}


async def test_cancel_aborts_the_in_flight_call(gateway, fake_worker):
    release = asyncio.Event()
    fake_worker.plan["two"] = Behaviour(block=release)
    job = await submit(gateway, "chain", text="x")
    await fake_worker.wait_for_call("two")
    response = await gateway.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    done = await wait_for_job(gateway, job["id"], within=5)
    assert done["status"] == "canceled"
    steps = {s["id"]: s for s in done["steps"]}
    assert steps["one"]["status"] == "succeeded"
    assert steps["two"]["status"] == "skipped" and steps["two"]["error"]["title"] == "Canceled"
    assert steps["three"]["status"] == "skipped"
    for _ in range(100):
        if fake_worker.aborted:
            break
        await asyncio.sleep(0.01)
    assert fake_worker.aborted == 1  # the worker saw its request go away
    assert fake_worker.step_calls("three") == 0
    release.set()
