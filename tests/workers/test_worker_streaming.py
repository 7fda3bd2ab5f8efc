"""The streamed variant of ``POST /v1/run`` (``Accept: text/event-stream``): delta events, then the ordinary
RunResponse in a ``result`` event, or a ``problem``; the plain JSON run is unchanged beside it."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from worker_helpers import AppMaker, Controls, assert_problem, fake_backends, run_body, runtime, wait_until

from workers.kit.contract import RunRequest
from workers.kit.errors import UpstreamUnavailable

STREAM = {"Accept": "text/event-stream"}


def parse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``(event, data)`` pairs of a server-sent events body (comments skipped)."""
    events = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        if "data" in fields:
            events.append((fields.get("event", ["message"])[0], json.loads("\n".join(fields["data"]))))
    return events


def test_a_streamed_run_sends_deltas_then_the_plain_runs_response(make_client: AppMaker) -> None:
    client = make_client("llm", fake_backends("llm"))
    body = run_body({"text": "tell me about the sea"})

    streamed = client.post("/v1/run", json=body, headers=STREAM)
    plain = client.post("/v1/run", json=body)

    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = parse_events(streamed.text)
    names = [name for name, _ in events]
    assert names[-1] == "result" and set(names[:-1]) == {"delta"} and len(names) >= 2
    result = events[-1][1]
    assert "".join(data["text"] for name, data in events if name == "delta") == result["outputs"]["text"]
    # the result event is the same RunResponse the plain run answers
    assert plain.headers["content-type"] == "application/json"
    assert result["outputs"] == plain.json()["outputs"] == {"text": "echo: tell me about the sea"}
    for key in ("provider", "model", "input_tokens", "output_tokens"):
        assert result["usage"][key] == plain.json()["usage"][key]


def test_capabilities_that_do_not_stream_answer_json_whatever_the_accept_header(
    make_client: AppMaker, files_root: Any
) -> None:
    client = make_client("tts", fake_backends("tts"))
    answer = client.post("/v1/run", json=run_body({"text": "hello"}), headers=STREAM)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["outputs"]["audio"]["content_type"] == "audio/wav"


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream;q=0", "*/*", ""])
def test_without_asking_for_the_event_stream_the_run_is_plain_json(
    make_client: AppMaker, accept: str
) -> None:
    client = make_client("llm", fake_backends("llm"))
    answer = client.post("/v1/run", json=run_body({"text": "hi"}), headers={"Accept": accept})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["outputs"] == {"text": "echo: hi"}


def test_a_run_that_cannot_start_is_an_ordinary_problem_answer(make_client: AppMaker) -> None:
    gate = threading.Event()
    client = make_client("llm", fake_backends("llm", Controls(run_gate=gate)), max_concurrency=1)

    assert_problem(
        client.post("/v1/run", json=run_body({"text": ""}), headers=STREAM),
        422,
        retryable=False,
        detail="text",
    )
    first = threading.Thread(
        target=lambda: client.post("/v1/run", json=run_body({"text": "one two"}), headers=STREAM)
    )
    first.start()
    wait_until(lambda: runtime(client.app).metrics.in_flight._value.get() == 1)
    busy = client.post("/v1/run", json=run_body({"text": "x"}), headers=STREAM)
    gate.set()
    first.join(10)
    assert_problem(busy, 429, retryable=True)
    assert busy.headers["retry-after"] == "1"


def test_a_failure_after_the_stream_began_is_a_problem_event(make_client: AppMaker) -> None:
    error = UpstreamUnavailable("OpenRouter answered 502: provider disconnected", status=502)
    client = make_client("llm", fake_backends("llm", Controls(run_error=error)))

    answer = client.post("/v1/run", json=run_body({"text": "one two three"}), headers=STREAM)

    assert answer.status_code == 200
    events = parse_events(answer.text)
    assert events[0] == ("delta", {"text": "echo:"})
    name, problem = events[-1]
    assert name == "problem"
    assert problem["status"] == 502 and problem["retryable"] is True
    assert problem["type"] == "urn:modaline:problem:upstream-unavailable"
    assert "provider disconnected" in problem["detail"]
    metrics = client.get("/metrics").text
    assert 'capability="llm",type="upstream-unavailable"} 1.0' in metrics


@pytest.mark.anyio
async def test_a_caller_that_leaves_mid_stream_stops_the_backend(make_client: AppMaker) -> None:
    gate = threading.Event()
    controls = Controls(run_gate=gate)
    client = make_client("llm", fake_backends("llm", controls))
    worker = runtime(client.app)

    events = worker.open_stream(RunRequest(job_id="j", step_id="s", inputs={"text": "a b c d e"}))
    name, first = await anext(events)
    assert (name, first.text) == ("delta", "echo:")
    await events.aclose()  # what the HTTP layer does when the connection drops
    (call,) = controls.runs
    assert call.stopped.is_set()
    gate.set()
    await asyncio.to_thread(wait_until, lambda: worker.metrics.in_flight._value.get() == 0)
