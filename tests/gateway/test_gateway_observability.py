"""What an operator sees on /metrics and in the logs, on both databases: the queue, job and step durations,
retries, fallbacks, lease takeovers, whether a runner is alive; log records tagged with job and step."""

from __future__ import annotations

import logging
import re

import pytest
from gateway_fakes import Behaviour
from gateway_helpers import submit, wait_for_job

from gateway.store import create_engine
from gateway.store import queue as store_queue

pytestmark = pytest.mark.anyio


def value(text: str, sample: str) -> float:
    """The value of one exposition line (``name{labels}``), failing with the nearby lines when absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    name = sample.split("{")[0]
    raise AssertionError(f"{sample} not found; have: {[ln for ln in text.splitlines() if name in ln]}")


async def test_queue_depth_and_the_age_of_the_oldest_queued_job(make_gateway):
    api = await make_gateway(role="api")
    empty = (await api.get("/metrics")).text
    assert value(empty, "modaline_queue_depth") == 0.0
    assert value(empty, "modaline_queue_oldest_age_seconds") == 0.0
    assert value(empty, "modaline_runner_up") == 0.0  # an API-only process runs no jobs
    first = await submit(api, "chain", text="x")
    await submit(api, "chain", text="y")
    text = (await api.get("/metrics")).text
    assert value(text, "modaline_queue_depth") == 2.0
    assert value(text, 'modaline_jobs{status="queued"}') == 2.0
    age = value(text, "modaline_queue_oldest_age_seconds")
    later = value((await api.get("/metrics")).text, "modaline_queue_oldest_age_seconds")
    assert 0.0 < age <= later  # the oldest keeps ageing while nobody runs it
    runner = await make_gateway(role="runner")
    await wait_for_job(api, first["id"])
    drained = (await runner.get("/metrics")).text
    assert value(drained, "modaline_runner_up") == 1.0


async def test_job_duration_by_pipeline_and_status_and_step_duration_by_step(gateway, fake_worker):
    fake_worker.plan["one"] = Behaviour(fail_times=99, retryable=False, status=422)
    ok = await submit(gateway, "quick", text="x")
    failed = await submit(gateway, "chain", text="x")
    assert (await wait_for_job(gateway, ok["id"]))["status"] == "succeeded"
    assert (await wait_for_job(gateway, failed["id"]))["status"] == "failed"
    text = (await gateway.get("/metrics")).text
    assert value(text, 'modaline_job_duration_seconds_count{pipeline="quick",status="succeeded"}') == 1.0
    assert value(text, 'modaline_job_duration_seconds_count{pipeline="chain",status="failed"}') == 1.0
    assert value(text, 'modaline_job_duration_seconds_sum{pipeline="quick",status="succeeded"}') > 0.0
    assert value(text, 'modaline_jobs_finished_total{status="failed"}') == 1.0
    step = 'modaline_job_step_duration_seconds_count{outcome="%s",pipeline="%s",step="%s"}'
    assert value(text, step % ("succeeded", "quick", "slow")) == 1.0
    assert value(text, step % ("failed", "chain", "one")) == 1.0
    assert f'job_id="{ok["id"]}"' not in text and ok["id"] not in text  # never a job id as a label


async def test_retries_and_fallbacks_are_counted_by_worker(gateway, fake_worker):
    fake_worker.plan["one"] = Behaviour(fail_times=2, retryable=True, status=503)
    fake_worker.plan["shaky"] = Behaviour(fail_times=99, retryable=False, status=422)
    retried = await submit(gateway, "chain", text="x")
    fell_back = await submit(gateway, "optional", text="x")
    assert (await wait_for_job(gateway, retried["id"]))["status"] == "succeeded"
    assert (await wait_for_job(gateway, fell_back["id"]))["status"] == "succeeded"
    text = (await gateway.get("/metrics")).text
    assert value(text, 'modaline_step_retries_total{worker="llm"}') == 2.0
    assert value(text, 'modaline_step_fallbacks_total{worker="llm"}') == 1.0
    step = 'modaline_job_step_duration_seconds_count{outcome="fallback",pipeline="optional",step="shaky"}'
    assert value(text, step) == 1.0


async def test_lease_takeovers_are_counted(make_gateway, database_url):
    api = await make_gateway(role="api")
    job = await submit(api, "chain", text="x")
    engine = create_engine(database_url)
    try:  # a runner claims the job and dies without renewing its lease
        await store_queue.claim_queued(engine, owner="dead-runner", lease_seconds=0.3, limit=5)
    finally:
        await engine.dispose()
    runner = await make_gateway(role="runner")
    assert (await wait_for_job(api, job["id"], within=10))["status"] == "succeeded"
    assert value((await runner.get("/metrics")).text, "modaline_lease_takeovers_total") == 1.0


async def test_metric_names_follow_the_naming_guide(gateway):
    await wait_for_job(gateway, (await submit(gateway, "chain", text="x"))["id"])
    text = (await gateway.get("/metrics")).text
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    for name, kind in types.items():
        assert name.startswith("modaline_"), name
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name  # durations in the base unit


async def test_runner_log_records_carry_the_job_id(gateway, fake_worker, caplog):
    from workers.kit.telemetry.logs import ContextFilter

    fake_worker.plan["two"] = Behaviour(fail_times=99, retryable=False, status=422)
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(ContextFilter())  # tags records as they are emitted, like the real handler
    job = await submit(gateway, "chain", text="secret words")
    assert (await wait_for_job(gateway, job["id"]))["status"] == "failed"
    [record] = [r for r in caplog.records if r.getMessage().startswith(f"job {job['id']} failed")]
    assert record.job_id == job["id"]  # type: ignore[attr-defined]
    assert "Bad input" in record.getMessage() and "secret words" not in record.getMessage()
