"""One job's whole trace, in one process: the gateway (API and runner) and a real image worker (the kit,
its local placeholder backend) recording into the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from gateway_helpers import free_port, submit, wait_for_job
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from workers.image.backends import BACKENDS
from workers.kit import telemetry
from workers.kit.app import create_worker_app
from workers.kit.settings import WorkerSettings

pytestmark = pytest.mark.anyio

TRACED_PIPELINES = Path(__file__).with_name("pipelines_traced")
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_PARENT = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"
PROMPT = "a quiet harbour at dawn"  # user content: must appear in no span


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every finished span kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    try:
        yield exporter
    finally:
        telemetry.shutdown()


@pytest.fixture
async def image_worker(files_root: Path) -> AsyncIterator[str]:
    """The real image worker (kit + local placeholder backend) served by uvicorn inside this process."""
    settings = WorkerSettings(backend="local", files_root=files_root, max_concurrency=4)
    app = create_worker_app("image", BACKENDS, settings=settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    app.state.runtime.wait_loaded(30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def finished_spans(
    exporter: InMemorySpanExporter, name: str, within: float = 15.0
) -> list[ReadableSpan]:
    """Every finished span, once one called ``name`` has ended (the job's span ends just after its write)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not any(s.name == name for s in exporter.get_finished_spans()):
        assert loop.time() < deadline, [s.name for s in exporter.get_finished_spans()]
        await asyncio.sleep(0.02)
    return list(exporter.get_finished_spans())


def only(spans: list[ReadableSpan], name: str, **attributes: Any) -> ReadableSpan:
    found = [
        s for s in spans if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, [(s.name, dict(s.attributes)) for s in spans])
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_job_is_one_trace_from_the_request_through_the_queue_to_each_backend_call(
    make_gateway, image_worker, spans
):
    gateway = await make_gateway(pipelines_dir=TRACED_PIPELINES, image_url=image_worker)
    response = await gateway.post(
        "/v1/jobs",
        json={"pipeline": "draw_twice", "inputs": {"text": PROMPT}},
        headers={"traceparent": CALLER_PARENT},
    )
    assert response.status_code == 202, response.text
    job = response.json()
    done = await wait_for_job(gateway, job["id"], within=30)
    assert done["status"] == "succeeded", done
    finished = await finished_spans(spans, "job draw_twice")

    # Every span of the job shares the caller's trace id.
    ours = [s for s in finished if s.context.trace_id == int(CALLER_TRACE, 16)]
    assert {s.name for s in ours} == {
        "POST /v1/jobs",
        "job draw_twice",
        "step first",
        "step second",
        "call image",
        "run image",
        "local image",
    }

    request = only(ours, "POST /v1/jobs")
    assert request.kind is SpanKind.SERVER
    assert parent_of(request) == int("b7ad6b7169203331", 16)  # continues the caller's span
    assert request.attributes["modaline.pipeline"] == "draw_twice"
    assert request.attributes["modaline.job_id"] == job["id"]

    run = only(ours, "job draw_twice")  # the runner picked the trace up from the job's row
    assert parent_of(run) == request.context.span_id
    assert run.attributes["modaline.outcome"] == "succeeded"

    for step_id in ("first", "second"):
        step = only(ours, f"step {step_id}")
        assert parent_of(step) == run.context.span_id
        assert step.attributes["modaline.worker"] == "image"
        assert step.attributes["modaline.pipeline"] == "draw_twice"
        assert (step.attributes["modaline.attempts"], step.attributes["modaline.outcome"]) == (1, "succeeded")

        call = only(ours, "call image", **{"modaline.step": step_id})
        assert call.kind is SpanKind.CLIENT and parent_of(call) == step.context.span_id
        assert call.attributes["modaline.attempt"] == 1 and call.attributes["modaline.outcome"] == "ok"
        assert call.attributes["modaline.backend"] == "local"

        served = only(ours, "run image", **{"modaline.step": step_id})  # traceparent crossed HTTP
        assert served.kind is SpanKind.SERVER and parent_of(served) == call.context.span_id
        assert served.attributes["modaline.backend"] == "local"
        assert served.attributes["modaline.outcome"] == "ok"

        engine = [s for s in ours if s.name == "local image" and parent_of(s) == served.context.span_id]
        assert len(engine) == 1
        assert engine[0].kind is SpanKind.INTERNAL and engine[0].attributes["modaline.outcome"] == "ok"
        assert engine[0].attributes["modaline.model"]

    # No user content in any span: neither the prompt nor anything derived from the inputs.
    for span in ours:
        assert PROMPT not in repr(dict(span.attributes)) and PROMPT not in span.name


async def test_a_retried_and_failed_step_shows_each_attempt_and_the_failure(make_gateway, fake_worker, spans):
    from gateway_fakes import Behaviour

    fake_worker.plan["one"] = Behaviour(fail_times=99, retryable=True, status=503)
    gateway = await make_gateway()
    job = await submit(gateway, "chain", text="x")
    assert (await wait_for_job(gateway, job["id"]))["status"] == "failed"
    finished = await finished_spans(spans, "job chain")
    calls = sorted(
        (s for s in finished if s.name == "call llm"), key=lambda s: s.attributes["modaline.attempt"]
    )
    assert [s.attributes["modaline.attempt"] for s in calls] == [1, 2, 3]
    assert all(s.attributes["modaline.outcome"] == "retryable_error" for s in calls)
    assert all(
        s.status.status_code is StatusCode.ERROR and s.attributes["modaline.status_code"] == 503
        for s in calls
    )
    step = only(finished, "step one")
    assert step.attributes["modaline.outcome"] == "failed" and step.status.status_code is StatusCode.ERROR
    assert {parent_of(s) for s in calls} == {step.context.span_id}
    assert only(finished, "job chain").attributes["modaline.outcome"] == "failed"
    assert not [s for s in finished if s.name in ("step two", "step three")]  # never started


async def test_without_tracing_nothing_is_stored_or_sent(gateway, fake_worker, database_url):
    """Off by default: no traceparent kept with the job, none sent to the worker."""
    from sqlalchemy import select

    from gateway.store import create_engine
    from gateway.store.models import JOBS

    job = await submit(gateway, "chain", text="x")
    assert (await wait_for_job(gateway, job["id"]))["status"] == "succeeded"
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(JOBS.c.traceparent).where(JOBS.c.id == job["id"]))).scalar()
    await engine.dispose()
    assert not telemetry.tracing_on()
    assert stored is None
    assert fake_worker.traceparents == [None, None, None]


async def test_a_job_taken_over_after_its_runner_died_stays_in_the_submits_trace(
    make_gateway, database_url, spans
):
    from gateway.store import create_engine
    from gateway.store import queue as store_queue

    api = await make_gateway(role="api")
    job = await submit(api, "chain", text="x")
    engine = create_engine(database_url)
    try:  # a runner claims the job and dies without renewing its lease
        [claimed] = await store_queue.claim_queued(engine, owner="dead-runner", lease_seconds=0.3, limit=5)
    finally:
        await engine.dispose()
    assert claimed.traceparent is not None
    await make_gateway(role="runner")
    assert (await wait_for_job(api, job["id"], within=20))["status"] == "succeeded"
    finished = await finished_spans(spans, "job chain")
    request, run = only(finished, "POST /v1/jobs"), only(finished, "job chain")
    assert parent_of(run) == request.context.span_id and run.context.trace_id == request.context.trace_id


async def test_a_job_queued_while_tracing_was_off_gets_a_trace_of_its_own(make_gateway):
    api = await make_gateway(role="api")
    job = await submit(api, "chain", text="x")  # no span, no traceparent stored
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    try:
        await make_gateway(role="runner")
        assert (await wait_for_job(api, job["id"]))["status"] == "succeeded"
        finished = await finished_spans(exporter, "job chain")
    finally:
        telemetry.shutdown()
    run = only(finished, "job chain")
    assert run.parent is None
    steps = [s for s in finished if s.name.startswith("step ")]
    assert len(steps) == 3 and {parent_of(s) for s in steps} == {run.context.span_id}


async def test_the_sampling_decision_taken_at_submit_is_followed_by_the_runner_and_the_worker(
    make_gateway, fake_worker
):
    """With a parent-based sampler, a job is traced whole or not at all: the decision made at POST /v1/jobs
    travels in the stored traceparent's flags to the runner and on to the worker."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))  # roots are dropped; sampled parents kept
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    try:
        gateway = await make_gateway()
        dropped = await submit(gateway, "chain", text="x")
        assert (await wait_for_job(gateway, dropped["id"]))["status"] == "succeeded"
        kept = await gateway.post(
            "/v1/jobs",
            json={"pipeline": "chain", "inputs": {"text": "y"}},
            headers={"traceparent": CALLER_PARENT},
        )
        assert (await wait_for_job(gateway, kept.json()["id"]))["status"] == "succeeded"
        finished = await finished_spans(exporter, "job chain")
    finally:
        telemetry.shutdown()
    assert {s.context.trace_id for s in finished} == {int(CALLER_TRACE, 16)}  # nothing of the dropped job
    assert len([s for s in finished if s.name == "call llm"]) == 3
    sent = fake_worker.traceparents
    assert len(sent) == 6 and all(t is not None for t in sent)
    sampled = [int(t.rsplit("-", 1)[1], 16) & 1 for t in sent]  # the W3C "sampled" flag
    assert sampled == [0, 0, 0, 1, 1, 1]  # the worker is told not to record the dropped job's calls
