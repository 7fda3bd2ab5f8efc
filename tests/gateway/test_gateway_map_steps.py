"""Map steps and gateway transforms in the runner, on both databases: one durable row per item, zip by
index, whole lists, max_parallel, cancel, and a worker's busy 429 that uses no attempt."""

from __future__ import annotations

import asyncio
import json

import pytest
from gateway_fakes import Behaviour
from gateway_helpers import submit, wait_for_job

from gateway.runner.steps import StepRecord
from gateway.store import create_engine
from gateway.store import queue as store_queue
from gateway.store.job_writer import JobWriter, Write
from workers.kit.testing import put_file

pytestmark = pytest.mark.anyio

LINES = "\n".join(f"{n}. line {n}" for n in range(1, 8))  # 7 numbered lines


def step(job: dict, step_id: str) -> dict:
    return next(s for s in job["steps"] if s["id"] == step_id)


async def test_map_steps_run_per_item_zip_by_index_and_give_lists(gateway, fake_worker):
    done = await wait_for_job(gateway, (await submit(gateway, "mapped", text=LINES))["id"])
    assert done["status"] == "succeeded", done["error"]
    split = step(done, "split")
    assert split["worker"] == "transform:split" and split["items"] is None
    assert split["outputs"]["segments"][0] == {"index": 0, "text": "line 1"}
    # each caption item saw its own segment; each draw item got the caption of the same index (zip)
    assert done["outputs"]["captions"] == [f"{i}:line {i + 1}>caption-{i}" for i in range(7)]
    images = done["outputs"]["images"]
    assert len(images) == 7 and all(image["url"].startswith("/v1/files/") for image in images)
    assert done["outputs"]["summary"] == "7 captions>summary"
    ids = [s["id"] for s in done["steps"]]
    assert ids == [
        "split",
        "caption",
        *[f"caption[{i}]" for i in range(7)],
        "draw",
        *[f"draw[{i}]" for i in range(7)],
        "summary",
    ]
    caption = step(done, "caption")
    assert caption["items"] == {"total": 7, "succeeded": 7, "failed": 0, "running": 0}
    assert caption["status"] == "succeeded" and caption["parent"] is None
    item = step(done, "draw[3]")
    assert (item["parent"], item["index"], item["status"], item["attempts"]) == ("draw", 3, "succeeded", 1)
    assert item["items"] is None and item["outputs"]["image"]["id"] == images[3]["id"]
    # every item was called once, under the worker-safe id draw-3
    assert all(fake_worker.step_calls(f"draw-{i}") == 1 for i in range(7))
    # one usage per item call (the parents add nothing of their own)
    assert done["usage"]["input_tokens"] == 3 * (7 + 7 + 1)


async def test_item_events_name_the_item(gateway, fake_worker):
    done = await wait_for_job(gateway, (await submit(gateway, "mapped", text="a\nb"))["id"])
    text = (await gateway.get(f"/v1/jobs/{done['id']}/events")).text
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    seen = {(e["type"], e["step_id"]) for e in events}
    assert ("step.succeeded", "draw[1]") in seen and ("step.running", "caption[0]") in seen
    assert ("step.succeeded", "draw") in seen and ("step.running", "draw") in seen


async def test_max_parallel_is_never_exceeded(gateway, fake_worker):
    for i in range(10):
        fake_worker.plan[f"caption-{i}"] = Behaviour(delay=0.15)
    text = "\n".join(f"line {n}" for n in range(10))
    done = await wait_for_job(gateway, (await submit(gateway, "mapped", text=text))["id"])
    assert done["status"] == "succeeded"
    spans = [(start, end) for (_, s, start, end) in fake_worker.times if s.startswith("caption-")]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 4  # max_parallel: 4, and the 10 items did overlap that much


async def test_an_item_failing_for_good_fails_the_map_step_and_the_job(gateway, fake_worker):
    fake_worker.plan["caption-2"] = Behaviour(fail_times=9, retryable=False, status=422)
    done = await wait_for_job(gateway, (await submit(gateway, "mapped", text=LINES))["id"])
    assert done["status"] == "failed" and done["error"]["step_id"] == "caption[2]"
    assert step(done, "caption[2]")["status"] == "failed"
    assert step(done, "caption")["status"] == "failed"
    assert step(done, "draw")["status"] == "skipped" and fake_worker.step_calls("draw-0") == 0


async def test_cancel_stops_every_item(gateway, fake_worker):
    gate = asyncio.Event()
    for i in range(7):
        fake_worker.plan[f"caption-{i}"] = Behaviour(block=gate)
    job = await submit(gateway, "mapped", text=LINES)
    await fake_worker.wait_for_in_flight(4)
    assert (await gateway.post(f"/v1/jobs/{job['id']}/cancel")).status_code in (200, 202)
    done = await wait_for_job(gateway, job["id"])
    assert done["status"] == "canceled"
    assert all(step(done, f"caption[{i}]")["status"] == "skipped" for i in range(7))
    assert sum(fake_worker.step_calls(f"caption-{i}") for i in range(7)) == 4  # none started after
    await asyncio.sleep(0.2)
    assert fake_worker.in_flight == 0


async def test_a_busy_worker_does_not_use_up_attempts(gateway, fake_worker):
    busy = Behaviour(fail_times=5, retryable=True, status=429, retry_after=0, busy=True)
    fake_worker.plan["caption-1"] = busy
    done = await wait_for_job(gateway, (await submit(gateway, "mapped", text=LINES))["id"])
    assert done["status"] == "succeeded", done["error"]
    assert fake_worker.step_calls("caption-1") == 6  # 5 busy answers, then the answer
    assert step(done, "caption[1]")["attempts"] == 1  # max_attempts is 3: busy answers did not count


async def test_an_upstream_rate_limit_still_counts_attempts(gateway, fake_worker):
    fake_worker.plan["caption-1"] = Behaviour(fail_times=5, retryable=True, status=429, retry_after=0)
    done = await wait_for_job(gateway, (await submit(gateway, "mapped", text=LINES))["id"])
    assert done["status"] == "failed" and step(done, "caption[1]")["attempts"] == 3


async def test_an_item_reading_another_map_step_by_index_starts_when_that_item_is_done(gateway, fake_worker):
    gate = asyncio.Event()
    fake_worker.plan["caption-6"] = Behaviour(block=gate)  # the last caption hangs…
    job = await submit(gateway, "mapped", text=LINES)
    await fake_worker.wait_for_call("draw-0")  # …yet the first picture is drawn from the first caption
    assert fake_worker.step_calls("draw-6") == 0  # the picture of the hanging caption waits for it
    gate.set()
    done = await wait_for_job(gateway, job["id"])
    assert done["status"] == "succeeded"
    assert next(call for call in fake_worker.call_log if call[1] == "draw-6")[2] >= max(
        end for (_, s, _, end) in fake_worker.times if s == "caption-6"
    )


async def test_a_takeover_resumes_the_unfinished_items_and_zips_with_items_of_the_dead_runner(
    make_gateway, fake_worker, database_url
):
    api = await make_gateway(role="api")
    job = await submit(api, "mapped", text="a\nb\nc")
    segments = [{"index": i, "text": t} for i, t in enumerate("abc")]
    engine = create_engine(database_url)
    try:
        # A runner that split the text, captioned all three segments, drew the first, then died.
        [claimed] = await store_queue.claim_queued(engine, owner="dead-runner", lease_seconds=0.5, limit=5)
        writer = JobWriter(engine, owner="dead-runner")
        writer.start()
        write = Write(claimed.id, tenant_id=claimed.tenant_id)
        split = StepRecord("split", "transform:split", status="succeeded", attempts=1)
        split.outputs = {"segments": segments, "count": 3}
        captions = [
            StepRecord(f"caption[{i}]", "llm", parent="caption", index=i, status="succeeded", attempts=1)
            for i in range(3)
        ]
        for record in captions:
            record.outputs = {"text": f"dead caption {record.index}"}
        caption = StepRecord(
            "caption", "llm", status="succeeded", outputs={"text": [c.outputs["text"] for c in captions]}
        )
        draws = [StepRecord(f"draw[{i}]", "image", parent="draw", index=i) for i in range(3)]
        draws[0].status, draws[0].attempts = "succeeded", 1
        draws[0].outputs = {"image": put_file(fake_worker.files_root, "jobs/x/d0.png", b"png", "image/png")}
        draws[1].status, draws[1].attempts = "running", 1
        write.new_steps += [r.new_row(1) for r in captions] + [r.new_row(2) for r in draws]
        write.steps += [split.row(), caption.row(), *(r.row() for r in captions + draws)]
        write.steps.append(StepRecord("draw", "image", status="running").row())
        assert await writer.write(write)
        await writer.stop()
    finally:
        await engine.dispose()
    await make_gateway(role="runner")
    done = await wait_for_job(api, job["id"], within=15)
    assert done["status"] == "succeeded", done["error"]
    assert fake_worker.step_calls("split") == 0 and fake_worker.step_calls("caption-0") == 0
    assert fake_worker.step_calls("draw-0") == 0  # finished before the crash
    assert fake_worker.calls[(job["id"], "draw-1")] == 1 and fake_worker.calls[(job["id"], "draw-2")] == 1
    # the resumed items read the dead runner's captions of their own index, not the whole list
    assert fake_worker.inputs[(job["id"], "draw-2")] == {"prompt": "dead caption 2"}
    assert step(done, "draw")["items"] == {"total": 3, "succeeded": 3, "failed": 0, "running": 0}
    assert step(done, "draw[1]")["attempts"] == 2  # interrupted once, run again


async def test_items_failing_together_fail_the_map_step_once(gateway, fake_worker):
    gate = asyncio.Event()
    for i in (1, 2):  # both answer at the same moment, so the runner collects them together
        fake_worker.plan[f"caption-{i}"] = Behaviour(block=gate, fail_times=9, retryable=False, status=422)
    job = await submit(gateway, "mapped", text="a\nb\nc")
    await fake_worker.wait_for_in_flight(2)
    gate.set()
    done = await wait_for_job(gateway, job["id"])
    assert done["status"] == "failed" and step(done, "caption")["status"] == "failed"
    events = (await gateway.get(f"/v1/jobs/{job['id']}/events")).text
    parent = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in parent if e["step_id"] == "caption"] == ["step.running", "step.failed"]


async def test_a_list_longer_than_the_limit_fails_the_map_step(make_gateway, fake_worker):
    gateway = await make_gateway(map_max_items=2)
    done = await wait_for_job(gateway, (await submit(gateway, "mapped", text="a\nb\nc"))["id"])
    assert done["status"] == "failed"
    assert done["error"]["title"] == "Too many items" and done["error"]["step_id"] == "caption"
    assert "has 3 items; a map step takes at most 2" in done["error"]["detail"]
    assert step(done, "caption")["status"] == "failed" and fake_worker.step_calls("caption-0") == 0
    assert not [s for s in done["steps"] if s["parent"]]  # no item rows were made
