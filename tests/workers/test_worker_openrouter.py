"""The llm worker's OpenRouter backend, through the real ``openai`` client with an httpx2 MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from worker_helpers import AppMaker, assert_problem, run_body

from workers.kit.settings import load_settings
from workers.llm.backends import BACKENDS
from workers.llm.backends.local import LocalLLMBackend
from workers.llm.backends.remote import OpenRouterBackend

Handler = Callable[[httpx2.Request], httpx2.Response]
KEY = "sk-or-v1-test"


def completion(text: str = "Hello!", **usage: Any) -> dict[str, Any]:
    """An OpenRouter chat completion as the API returns it."""
    return {
        "id": "gen-1732000000-abc",
        "provider": "DeepInfra",
        "model": "meta-llama/llama-3.1-8b-instruct",
        "object": "chat.completion",
        "created": 1732000000,
        "choices": [
            {
                "logprobs": None,
                "finish_reason": "stop",
                "native_finish_reason": "stop",
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "reasoning": None},
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15, **usage},
    }


@pytest.fixture
def openrouter(make_client: AppMaker) -> Callable[[Handler], TestClient]:
    """A started llm worker whose OpenRouter backend talks to ``handler``."""

    def make(handler: Handler, **settings: Any) -> TestClient:
        http = httpx2.Client(transport=httpx2.MockTransport(handler))
        factory = {"openrouter": lambda s: OpenRouterBackend(s, http_client=http)}
        settings.setdefault("openrouter_api_key", KEY)
        return make_client("llm", factory, **settings)

    return make


def test_run_sends_an_openrouter_chat_completion_and_reports_usage(openrouter: Any) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=completion("Bonjour!", cost=0.000042))

    client = openrouter(handler, app_url="https://modaline.example", app_title="Modaline test")
    body = run_body(
        {"text": "Say hello in French.", "system": "Be brief."}, {"max_tokens": 20, "temperature": 0.2}
    )
    answer = client.post("/v1/run", json=body)

    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == {"text": "Bonjour!"}
    usage = answer.json()["usage"]
    assert usage["provider"] == "openrouter"
    assert usage["model"] == "meta-llama/llama-3.1-8b-instruct"
    assert (usage["input_tokens"], usage["output_tokens"], usage["cost_usd"]) == (12, 3, 0.000042)
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://openrouter.ai/api/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["http-referer"] == "https://modaline.example"
    assert request.headers["x-title"] == "Modaline test"
    sent = json.loads(request.content)
    assert sent["model"] == "meta-llama/llama-3.1-8b-instruct"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello in French."},
    ]
    assert (sent["max_tokens"], sent["temperature"]) == (20, 0.2)
    assert sent["usage"] == {"include": True}


def test_model_and_base_url_come_from_settings_and_cost_may_be_absent(openrouter: Any) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={**completion(), "model": "mistralai/mistral-7b-instruct"})

    client = openrouter(handler, model="mistralai/mistral-7b-instruct", base_url="https://proxy.internal/v1")
    assert client.get("/v1/info").json()["model"] == "mistralai/mistral-7b-instruct"
    answer = client.post("/v1/run", json=run_body({"text": "hi"}))
    assert answer.status_code == 200
    assert "cost_usd" not in answer.json()["usage"]
    assert str(seen[0].url) == "https://proxy.internal/v1/chat/completions"
    assert json.loads(seen[0].content)["model"] == "mistralai/mistral-7b-instruct"
    assert (json.loads(seen[0].content)["max_tokens"], json.loads(seen[0].content)["temperature"]) == (
        256,
        0.7,
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json={"error": {"code": status, "message": message}}, headers=headers)

    return handler


def _raise(exc_type: type[Exception]) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise exc_type("simulated", request=request)  # type: ignore[call-arg]

    return handler


@pytest.mark.parametrize(
    ("handler", "status", "retryable", "detail", "retry_after"),
    [
        (
            _error(400, "This model's maximum context length is 8192"),
            422,
            False,
            "maximum context length",
            None,
        ),
        (_error(401, "No auth credentials found"), 502, False, "No auth credentials found", None),
        (_error(402, "Insufficient credits"), 502, False, "Insufficient credits", None),
        (_error(404, "No endpoints found for acme/nope"), 502, False, "No endpoints found", None),
        (_error(429, "Rate limit exceeded", {"retry-after": "7"}), 429, True, "Rate limit", "7"),
        (_error(500, "Internal Server Error"), 502, True, "answered 500", None),
        (_error(502, "Provider returned error"), 502, True, "Provider returned error", None),
        (_error(503, "No instances available", {"retry-after": "30"}), 503, True, "No instances", "30"),
        (_raise(httpx2.ReadTimeout), 504, True, "timed out", None),
        (_raise(httpx2.ConnectError), 503, True, "unreachable", None),
    ],
    ids=["400", "401", "402", "404", "429", "500", "502", "503", "timeout", "connection"],
)
def test_provider_errors_map_to_contract_problems(
    openrouter: Any, handler: Handler, status: int, retryable: bool, detail: str, retry_after: str | None
) -> None:
    client = openrouter(handler)
    answer = client.post("/v1/run", json=run_body({"text": "hi"}))
    assert_problem(answer, status, retryable=retryable, detail=detail)
    assert answer.headers.get("retry-after") == retry_after
    assert KEY not in answer.text


def test_the_client_does_not_retry_behind_the_gateways_back(openrouter: Any) -> None:
    calls: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(503, json={"error": {"message": "busy"}})

    openrouter(handler).post("/v1/run", json=run_body({"text": "hi"}))
    assert len(calls) == 1


def test_an_answer_without_text_is_an_upstream_error(openrouter: Any) -> None:
    client = openrouter(lambda request: httpx2.Response(200, json={**completion(), "choices": []}))
    assert_problem(
        client.post("/v1/run", json=run_body({"text": "hi"})), 502, retryable=False, detail="no text"
    )


def test_options_are_checked_before_any_request(openrouter: Any) -> None:
    calls: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(200, json=completion())

    client = openrouter(handler)
    answer = client.post("/v1/run", json=run_body({"text": "hi"}, {"temperature": 3}))
    assert_problem(answer, 422, retryable=False, detail="option 'temperature' must be at most 2")
    assert calls == []


def test_without_a_key_openrouter_is_not_ready_and_runs_fail_without_retry(make_client: AppMaker) -> None:
    client = make_client("llm", BACKENDS, backend="openrouter", openrouter_api_key=None, wait=False)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == "OPENROUTER_API_KEY is not set (needed by the 'openrouter' backend)"
    # Retrying cannot help until someone sets the key: the gateway should fail the step at once.
    assert_problem(
        client.post("/v1/run", json=run_body({"text": "hi"})), 503, retryable=False, detail="OPENROUTER"
    )


@pytest.mark.parametrize(
    ("key", "expected"), [(None, LocalLLMBackend), ("", LocalLLMBackend), (KEY, OpenRouterBackend)]
)
def test_auto_picks_openrouter_only_when_its_key_is_set(key: str | None, expected: type) -> None:
    from workers.kit.backend import select_backend

    settings = load_settings("llm", backend="auto", openrouter_api_key=key)
    assert type(select_backend(settings, dict(BACKENDS))) is expected


@pytest.mark.parametrize(
    ("response", "status", "retryable", "detail"),
    [
        (
            httpx2.Response(200, json={"error": {"code": 502, "message": "Upstream idle"}}),
            502,
            True,
            "Upstream idle",
        ),
        (httpx2.Response(200, json={"error": {"code": 429, "message": "Provider busy"}}), 429, True, "busy"),
        (
            httpx2.Response(200, content=b"<html>x</html>", headers={"content-type": "text/html"}),
            502,
            False,
            "str",
        ),
        (httpx2.Response(200, json=[1]), 502, False, "not a chat completion"),
    ],
    ids=["error-in-200", "rate-limit-in-200", "html", "json-list"],
)
def test_a_200_that_is_not_a_completion_is_an_upstream_error(
    openrouter: Any, response: httpx2.Response, status: int, retryable: bool, detail: str
) -> None:
    client = openrouter(lambda request: response)
    assert_problem(
        client.post("/v1/run", json=run_body({"text": "hi"})), status, retryable=retryable, detail=detail
    )


def test_a_traced_run_continues_the_callers_trace_with_a_client_span_for_the_provider_call(
    openrouter: Any,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    from workers.kit import telemetry

    answers = iter([httpx2.Response(200, json=completion("Hi")), httpx2.Response(401, json={"error": {}})])
    client = openrouter(lambda request: next(answers))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    try:
        body = run_body({"text": "a secret prompt"}, job_id="j1", step_id="s1")
        assert client.post("/v1/run", json=body, headers={"traceparent": caller}).status_code == 200
        assert client.post("/v1/run", json=body).status_code >= 400
    finally:
        telemetry.shutdown()
    spans = exporter.get_finished_spans()
    ok_run, ok_call = (
        next(s for s in spans if s.name == name and s.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736)
        for name in ("run llm", "openrouter llm")
    )
    assert ok_run.kind is SpanKind.SERVER and ok_run.parent.span_id == 0x00F067AA0BA902B7
    assert ok_call.kind is SpanKind.CLIENT and ok_call.parent.span_id == ok_run.context.span_id
    assert ok_call.attributes["modaline.backend"] == "openrouter"
    assert ok_call.attributes["modaline.model"] == "meta-llama/llama-3.1-8b-instruct"  # who answered
    assert ok_run.attributes["modaline.outcome"] == "ok" and ok_run.attributes["modaline.step"] == "s1"
    failed = [
        s for s in spans if s.context.trace_id != ok_run.context.trace_id
    ]  # no traceparent: a new trace
    assert {s.name for s in failed} == {"run llm", "openrouter llm"}
    assert all(s.status.status_code is StatusCode.ERROR for s in failed)
    assert all("secret prompt" not in repr(dict(s.attributes)) for s in spans)


# --- streamed runs: OpenRouter's server-sent chunks, as its API sends them --------------------------------

STREAM = {"Accept": "text/event-stream"}


def _chunk(content: str | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "gen-1732000000-abc",
        "provider": "DeepInfra",
        "model": "meta-llama/llama-3.1-8b-instruct",
        "object": "chat.completion.chunk",
        "created": 1732000000,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": content},
                "finish_reason": finish,
                "native_finish_reason": finish,
                "logprobs": None,
            }
        ],
        **extra,
    }


def sse_body(*chunks: dict[str, Any], done: bool = True) -> bytes:
    """An OpenRouter event stream: a keep-alive comment, one ``data:`` line per chunk, then ``[DONE]``."""
    lines = [": OPENROUTER PROCESSING\n\n"] + [f"data: {json.dumps(c)}\n\n" for c in chunks]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def _sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        head, _, data = block.partition("\ndata: ")
        events.append((head.removeprefix("event: "), json.loads(data)))
    return events


def test_a_streamed_run_relays_openrouters_chunks_as_they_come(openrouter: Any) -> None:
    seen: list[httpx2.Request] = []
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 4,
        "total_tokens": 16,
        "cost": 0.00005,
        "is_byok": False,
    }

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        body = sse_body(
            _chunk(""),
            _chunk("\nBon"),
            _chunk("jour, "),
            _chunk("le monde"),
            _chunk("!\n", "stop"),
            _chunk("", None, usage=usage),
        )
        return httpx2.Response(200, content=body, headers={"Content-Type": "text/event-stream"})

    client = openrouter(handler)
    answer = client.post("/v1/run", json=run_body({"text": "Say hello world in French."}), headers=STREAM)

    assert answer.status_code == 200, answer.text
    events = _sse_events(answer.text)
    deltas = [data["text"] for name, data in events if name == "delta"]
    name, result = events[-1]
    assert name == "result"
    assert result["outputs"] == {"text": "Bonjour, le monde!"}
    assert "".join(deltas) == "Bonjour, le monde!"  # the surrounding whitespace never went out
    assert result["usage"]["provider"] == "openrouter"
    assert (result["usage"]["input_tokens"], result["usage"]["output_tokens"]) == (12, 4)
    assert result["usage"]["cost_usd"] == 0.00005
    sent = json.loads(seen[0].content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["usage"] == {"include": True}
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_an_error_openrouter_sends_mid_stream_is_a_retryable_problem_event(openrouter: Any) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        error = {"code": "server_error", "message": "Provider disconnected unexpectedly"}
        body = sse_body(_chunk("Once upon"), _chunk("", "error", error=error), done=False)
        return httpx2.Response(200, content=body, headers={"Content-Type": "text/event-stream"})

    answer = openrouter(handler).post("/v1/run", json=run_body({"text": "A story"}), headers=STREAM)

    events = _sse_events(answer.text)
    assert events[0] == ("delta", {"text": "Once upon"})
    name, problem = events[-1]
    assert name == "problem"
    assert (problem["status"], problem["retryable"]) == (502, True)
    assert "Provider disconnected unexpectedly" in problem["detail"]


def test_a_refused_streamed_request_is_a_plain_problem(openrouter: Any) -> None:
    answer = openrouter(_error(429, "Rate limit exceeded", {"Retry-After": "7"})).post(
        "/v1/run", json=run_body({"text": "hi"}), headers=STREAM
    )
    assert_problem(answer, 429, retryable=True, detail="Rate limit exceeded")
    assert answer.headers["retry-after"] == "7"
