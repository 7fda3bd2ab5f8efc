"""Runner behaviour on both databases: retries, fallbacks, timeouts, parallel steps, lease takeover."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from gateway_fakes import Behaviour
from gateway_helpers import free_port, submit, wait_for_job
from sqlalchemy import select, update

from gateway.runner.steps import StepRecord
from gateway.store import create_engine
from gateway.store import queue as store_queue
from gateway.store.job_writer import JobWriter, Write
from gateway.store.models import EVENTS, JOBS, STEPS, utcnow
from gateway.store.rows import StepRow

pytestmark = pytest.mark.anyio


def step(job: dict, step_id: str) -> dict:
    return next(s for s in job["steps"] if s["id"] == step_id)


def step_row(step_id: str, **fields) -> StepRow:
    """A full steps update, as the runner writes it, for a step of the fixture's llm pipelines."""
    return StepRecord(step_id, "llm", **fields).row()


async def test_retryable_errors_are_retried_after_retry_after(gateway, fake_worker):
    fake_worker.plan["two"] = Behaviour(fail_times=2, retryable=True, retry_after=0.3, status=503)
    job = await submit(gateway, "chain", text="x")
    done = await wait_for_job(gateway, job["id"])
    assert done["status"] == "succeeded"
    assert step(done, "two")["attempts"] == 3 and step(done, "two")["error"] is None
    starts = [t for (_, s, t) in fake_worker.call_log if s == "two"]
    assert starts[1] - starts[0] >= 0.29 and starts[2] - starts[1] >= 0.29  # waited as long as asked
    events = (await gateway.get(f"/v1/jobs/{job['id']}/events")).text
    assert events.count("event: step.retrying") == 2 and "Upstream busy" in events


async def test_attempts_are_bounded(gateway, fake_worker):
    fake_worker.plan["one"] = Behaviour(fail_times=99, retryable=True, status=503)
    done = await wait_for_job(gateway, (await submit(gateway, "chain", text="x"))["id"])
    assert done["status"] == "failed"
    assert step(done, "one")["attempts"] == 3  # the default max_attempts
    assert step(done, "one")["error"] == {
        "title": "Upstream busy",
        "detail": "one attempt 3 failed on purpose",
        "retryable": True,
    }
    assert done["error"]["step_id"] == "one"
    assert [step(done, s)["status"] for s in ("two", "three")] == ["skipped", "skipped"]
    assert fake_worker.step_calls("two") == 0


async def test_non_retryable_errors_fail_at_once(gateway, fake_worker):
    fake_worker.plan["two"] = Behaviour(fail_times=1, retryable=False, status=422)
    done = await wait_for_job(gateway, (await submit(gateway, "chain", text="x"))["id"])
    assert done["status"] == "failed" and fake_worker.step_calls("two") == 1
    assert done["error"] == {
        "title": "Bad input",
        "detail": "two attempt 1 failed on purpose",
        "step_id": "two",
    }
    assert step(done, "one")["status"] == "succeeded"  # a failed step leaves earlier results intact
    assert step(done, "one")["outputs"] == {"text": "x>one"}


async def test_on_error_fallback_lets_the_job_finish(gateway, fake_worker):
    fake_worker.plan["shaky"] = Behaviour(fail_times=99, retryable=False, status=400)
    done = await wait_for_job(gateway, (await submit(gateway, "optional", text="hi"))["id"])
    assert done["status"] == "succeeded"
    shaky = step(done, "shaky")
    assert (
        shaky["status"] == "failed" and shaky["fallback"] is True and shaky["error"]["title"] == "Bad input"
    )
    assert shaky["outputs"] == {"text": "fallback from hi>first"}
    assert done["outputs"] == {"text": "fallback from hi>first>last"}


async def test_step_timeout_counts_as_retryable(gateway, fake_worker):
    fake_worker.plan["slow"] = Behaviour(delay=5)
    done = await wait_for_job(gateway, (await submit(gateway, "quick", text="x"))["id"])
    assert done["status"] == "failed"
    slow = step(done, "slow")
    assert (
        slow["attempts"] == 2 and slow["error"]["title"] == "Worker timed out" and slow["error"]["retryable"]
    )
    assert fake_worker.step_calls("slow") == 2


async def test_job_timeout_stops_the_job(gateway, fake_worker):
    fake_worker.plan["second"] = Behaviour(delay=5)
    done = await wait_for_job(gateway, (await submit(gateway, "jobtimeout", text="x"))["id"], within=5)
    assert done["status"] == "failed" and done["error"]["title"] == "Job timed out"
    assert step(done, "first")["status"] == "succeeded"
    assert step(done, "second")["status"] == "skipped"


async def test_independent_steps_overlap(gateway, fake_worker):
    fake_worker.plan["left"] = Behaviour(delay=0.4)
    fake_worker.plan["right"] = Behaviour(delay=0.4)
    done = await wait_for_job(gateway, (await submit(gateway, "fanout", text="x"))["id"])
    assert done["outputs"] == {"text": "L x>left + R x>right>join"}
    spans = {s: (start, end) for (_, s, start, end) in fake_worker.times}
    assert spans["left"][0] < spans["right"][1] and spans["right"][0] < spans["left"][1]  # they overlapped
    assert spans["join"][0] >= max(spans["left"][1], spans["right"][1])  # the join waited for both
    assert fake_worker.max_in_flight == 2


async def test_expired_lease_is_taken_over_and_finished_steps_are_kept(
    make_gateway, fake_worker, database_url
):
    api = await make_gateway(role="api")
    job = await submit(api, "chain", text="x")
    engine = create_engine(database_url)
    try:
        # A runner that claims the job, finishes step one, then dies without renewing its lease.
        [claimed] = await store_queue.claim_queued(engine, owner="dead-runner", lease_seconds=0.5, limit=5)
        writer = JobWriter(engine, owner="dead-runner")
        writer.start()
        row = step_row("one", status="succeeded", attempts=1, outputs={"text": "from the dead runner"})
        assert await writer.write(Write(claimed.id, tenant_id=claimed.tenant_id, steps=[row]))
        await writer.stop()
    finally:
        await engine.dispose()
    await make_gateway(role="runner")
    done = await wait_for_job(api, job["id"], within=10)
    assert done["status"] == "succeeded"
    assert done["outputs"] == {"text": "from the dead runner>two>three"}
    assert fake_worker.step_calls("one") == 0
    events = (await api.get(f"/v1/jobs/{job['id']}/events")).text
    assert "after the previous runner's lease expired" in events


async def test_a_runner_that_lost_its_lease_cannot_write(database_url, make_gateway):
    api = await make_gateway(role="api")
    job = await submit(api, "chain", text="x")
    engine = create_engine(database_url)
    try:
        await store_queue.claim_queued(engine, owner="slow", lease_seconds=30, limit=1)
        async with engine.begin() as conn:  # its lease runs out…
            await conn.execute(update(JOBS).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        [taken] = await store_queue.claim_expired(engine, owner="fast", lease_seconds=30, limit=1)
        assert taken.id == job["id"]
        async with engine.connect() as conn:
            details = (
                await conn.execute(select(EVENTS.c.detail).where(EVENTS.c.job_id == job["id"]))
            ).scalars()
            assert "resumed by runner fast after the previous runner's lease expired" in list(details)
        writer = JobWriter(engine, owner="slow")
        writer.start()
        stale = step_row("one", status="succeeded", attempts=1, outputs={"text": "stale"})
        assert await writer.write(Write(job["id"], tenant_id="default", steps=[stale])) is False
        await writer.stop()
        async with engine.connect() as conn:
            status = (await conn.execute(select(STEPS.c.status).where(STEPS.c.step_id == "one"))).scalar()
        assert status == "pending"
    finally:
        await engine.dispose()


async def test_many_concurrent_jobs_all_finish_once(gateway, fake_worker):
    fake_worker.plan["two"] = Behaviour(delay=0.05)
    jobs = await asyncio.gather(*(submit(gateway, "chain", text=f"j{i}") for i in range(40)))
    results = await asyncio.gather(*(wait_for_job(gateway, job["id"], within=30) for job in jobs))
    assert all(r["status"] == "succeeded" for r in results)
    assert all(count == 1 for count in fake_worker.calls.values()) and len(fake_worker.calls) == 120
    assert fake_worker.max_in_flight > 1


async def test_unreachable_worker_is_retried_then_fails_with_a_clear_error(make_gateway):
    gateway = await make_gateway(llm_url=f"http://127.0.0.1:{free_port()}", retry_cap_seconds=0.05)
    done = await wait_for_job(gateway, (await submit(gateway, "chain", text="x"))["id"])
    assert done["status"] == "failed"
    one = step(done, "one")
    assert (
        one["attempts"] == 3 and one["error"]["title"] == "Worker unreachable" and one["error"]["retryable"]
    )
    metrics = (await gateway.get("/metrics")).text
    assert 'modaline_worker_errors_total{retryable="true",worker="llm"} 3.0' in metrics


async def test_a_submit_hands_the_job_straight_to_the_runner_in_the_same_process(make_gateway, fake_worker):
    # A poll far longer than the test: only the hand-off (or a wake-up) can start these jobs.
    gateway = await make_gateway(runner_concurrency=1, runner_poll_seconds=30)
    runner = gateway.app.state.runner  # type: ignore[attr-defined]
    fake_worker.plan["one"] = Behaviour(delay=0.2)
    first = await submit(gateway, "chain", text="a")
    second = await submit(gateway, "chain", text="b")  # the runner is full: this one waits in the queue
    # The API answers with the state each job was committed in: handed to the runner, or left queued.
    assert first["status"] == "running" and first["started_at"] is not None
    assert second["status"] == "queued" and second["started_at"] is None
    done = [await wait_for_job(gateway, job["id"], within=10) for job in (first, second)]
    assert [job["status"] for job in done] == ["succeeded", "succeeded"]
    events = (await gateway.get(f"/v1/jobs/{first['id']}/events")).text
    assert events.index("job.queued") < events.index("job.running") < events.index("step.running")
    assert f"claimed by runner {runner.owner}" in events
    assert runner.free_slots == 1 and not runner.active  # no slot stays reserved


class _CrashedRunner:
    """A hand-off target that reserves jobs and dies before starting them."""

    owner = "crashed-runner"
    lease_seconds = 0.5

    def caps(self) -> store_queue.RunningCaps:
        return store_queue.NO_CAPS

    def reserve(self, n: int) -> int:
        return n

    def adopt(self, jobs: list[store_queue.ClaimedJob], reserved: int, *, left_queued: bool) -> None:
        pass


async def test_a_handed_over_job_lost_in_a_crash_is_taken_over_when_its_lease_expires(make_gateway):
    api = await make_gateway(role="api")
    api.app.state.batcher.connect(_CrashedRunner())  # type: ignore[attr-defined]
    job = await submit(api, "chain", text="x")
    assert (await api.get(f"/v1/jobs/{job['id']}")).json()["status"] == "running"
    await make_gateway(role="runner")
    done = await wait_for_job(api, job["id"], within=10)
    assert done["status"] == "succeeded"
    events = (await api.get(f"/v1/jobs/{job['id']}/events")).text
    assert "claimed by runner crashed-runner" in events
    assert "after the previous runner's lease expired" in events


async def test_writes_nobody_awaits_ride_along_with_the_next_commit_or_go_soon(make_gateway, database_url):
    api = await make_gateway(role="api")
    job = await submit(api, "chain", text="x")
    engine = create_engine(database_url)
    try:
        await store_queue.claim_queued(engine, owner="me", lease_seconds=30, limit=1)
        writer = JobWriter(engine, owner="me", lazy_seconds=0.05)
        writer.start()
        running = step_row("one", status="running", attempts=1)
        done = step_row("one", status="succeeded", attempts=1, outputs={"text": "y"})
        writer.submit(Write(job["id"], tenant_id="default", steps=[running]))
        assert await writer.write(Write(job["id"], tenant_id="default", steps=[done]))
        assert writer.transactions == 1 and writer.items == 2  # one commit, in submission order
        assert step(await wait_for_job(api, job["id"], statuses=("running",)), "one")["status"] == "succeeded"
        writer.submit(
            Write(job["id"], tenant_id="default", steps=[step_row("two", status="running", attempts=1)])
        )  # alone: soon
        for _ in range(100):
            if writer.transactions == 2:
                break
            await asyncio.sleep(0.01)
        assert writer.transactions == 2
        await writer.stop()
        assert step((await api.get(f"/v1/jobs/{job['id']}")).json(), "two")["status"] == "running"
    finally:
        await engine.dispose()


async def test_a_job_that_crashes_the_runner_every_time_fails_after_a_few_crashes(
    make_gateway, database_url, monkeypatch
):
    from gateway.runner.client import HttpWorkerClient

    real_run = HttpWorkerClient.run
    poisoned_calls = 0

    async def run_with_a_fault(self, worker, request, *, time_limit, on_delta=None):
        nonlocal poisoned_calls
        if request.inputs.get("text") == "poison":
            poisoned_calls += 1
            raise RuntimeError("injected fault: a bug in the runner")  # not a WorkerCallError: a crash
        return await real_run(self, worker, request, time_limit=time_limit, on_delta=on_delta)

    monkeypatch.setattr(HttpWorkerClient, "run", run_with_a_fault)
    gateway = await make_gateway(runner_max_crashes=3, crash_pause_seconds=0.05)
    poison = await submit(gateway, "chain", text="poison")
    others = [await submit(gateway, "chain", text=f"ok{i}") for i in range(5)]
    failed = await wait_for_job(gateway, poison["id"], within=20)
    assert failed["status"] == "failed"
    assert failed["error"]["title"] == "Internal error" and "crashed 3 times" in failed["error"]["detail"]
    assert [s["status"] for s in failed["steps"]] == ["skipped", "skipped", "skipped"]
    finished = [await wait_for_job(gateway, j["id"]) for j in others]
    assert [j["status"] for j in finished] == ["succeeded"] * 5  # the poison job blocked nobody
    assert poisoned_calls == 3  # claimed once per crash, never in a loop
    events = (await gateway.get(f"/v1/jobs/{poison['id']}/events")).text
    assert events.count("event: job.running") == 3 and events.count("event: job.failed") == 1
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            crashes = (
                await conn.execute(select(JOBS.c.crash_count).where(JOBS.c.id == poison["id"]))
            ).scalar()
    finally:
        await engine.dispose()
    assert crashes == 3  # counted in the row, so a restart does not reset it


async def test_the_crash_count_survives_a_runner_restart(make_gateway, database_url, monkeypatch):
    from gateway.runner.client import HttpWorkerClient

    async def always_crash(self, worker, request, *, time_limit, on_delta=None):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(HttpWorkerClient, "run", always_crash)
    api = await make_gateway(role="api")
    job = await submit(api, "chain", text="x")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:  # two crashes already counted by runners that are gone now
            await conn.execute(update(JOBS).where(JOBS.c.id == job["id"]).values(crash_count=2))
        await make_gateway(role="runner", runner_max_crashes=3, crash_pause_seconds=0.05)
        done = await wait_for_job(api, job["id"], within=20)
    finally:
        await engine.dispose()
    assert done["status"] == "failed" and "crashed 3 times" in done["error"]["detail"]
    events = (await api.get(f"/v1/jobs/{job['id']}/events")).text
    assert events.count("event: job.running") == 1  # the third crash was the last
