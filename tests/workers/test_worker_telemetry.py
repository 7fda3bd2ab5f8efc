"""The telemetry the gateway and every worker share: when tracing turns on, log lines and their fields,
and that secrets never reach a log line."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from workers.kit import telemetry
from workers.kit.telemetry import tracing
from workers.kit.telemetry.logs import ContextFilter, JsonFormatter, TextFormatter


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, True),
    ],
)
def test_tracing_is_on_only_when_the_standard_variables_ask(env: dict[str, str], on: bool) -> None:
    assert tracing.wanted(env) is on
    try:
        assert telemetry.configure_tracing("svc", env) is on
        assert telemetry.tracing_on() is on
    finally:
        telemetry.shutdown()


def test_the_service_name_is_ours_unless_otel_service_name_says_otherwise() -> None:
    try:
        telemetry.configure_tracing("modaline-gateway", {"OTEL_TRACES_EXPORTER": "none,console"})
        assert tracing._STATE.provider.resource.attributes["service.name"] == "modaline-gateway"
    finally:
        telemetry.shutdown()


def test_an_unknown_exporter_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="otlp, console, none"):
        telemetry.configure_tracing("svc", {"OTEL_TRACES_EXPORTER": "zipkin"})
    assert not telemetry.tracing_on()


def test_off_means_no_span_no_traceparent_no_work() -> None:
    assert not telemetry.tracing_on()
    with telemetry.span("t", "anything") as current:
        assert current is None
        headers: dict[str, str] = {}
        telemetry.inject(headers)
        assert headers == {} and telemetry.current_traceparent() is None
        assert telemetry.extract({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    try:
        yield exporter
    finally:
        telemetry.shutdown()


def test_traceparent_round_trip_and_errors_keep_only_their_type(spans: InMemorySpanExporter) -> None:
    with telemetry.span("t", "outer") as outer:
        sent = telemetry.current_traceparent()
        headers: dict[str, str] = {}
        telemetry.inject(headers)
    assert outer is not None and headers == {"traceparent": sent}
    with pytest.raises(KeyError), telemetry.span("t", "inner", parent=telemetry.extract(headers)):
        raise KeyError("the user's secret prompt")
    outer_span, inner_span = sorted(spans.get_finished_spans(), key=lambda s: s.name != "outer")
    assert inner_span.parent.span_id == outer_span.context.span_id
    assert inner_span.context.trace_id == outer_span.context.trace_id
    assert inner_span.status.description == "KeyError" and not inner_span.events  # no message, no traceback
    assert telemetry.extract({"traceparent": "garbage"}) is not None  # ignored: a fresh root follows


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    rec = logging.LogRecord("modaline.test", logging.INFO, __file__, 1, message, args, None)
    if exc is not None:
        try:
            raise exc
        except BaseException:
            import sys

            rec.exc_info = sys.exc_info()
    ContextFilter().filter(rec)
    return rec


def test_json_lines_carry_job_step_and_trace_as_top_level_fields(spans: InMemorySpanExporter) -> None:
    with telemetry.job_context("job123", "draw"), telemetry.span("t", "s") as current:
        line = json.loads(JsonFormatter("worker-image").format(record("run %s", "ok")))
    assert current is not None
    assert line["message"] == "run ok" and line["level"] == "info" and line["service"] == "worker-image"
    assert line["job_id"] == "job123" and line["step_id"] == "draw"
    assert line["trace_id"] == format(current.get_span_context().trace_id, "032x")
    outside = json.loads(JsonFormatter("gateway").format(record("idle")))
    assert not {"job_id", "step_id", "trace_id"} & set(outside)  # absent, not null, when unknown


def test_the_job_context_follows_work_into_a_thread_given_a_copy_of_it() -> None:
    seen: list[tuple[str | None, str | None]] = []
    with telemetry.job_context("j", "s"):
        ctx = contextvars.copy_context()
    worker = threading.Thread(target=ctx.run, args=(lambda: seen.append(telemetry.current_job()),))
    worker.start()
    worker.join()
    assert seen == [("j", "s")] and telemetry.current_job() == (None, None)


def test_text_format_appends_the_ids_for_a_terminal() -> None:
    with telemetry.job_context("job9"):
        text = TextFormatter().format(record("step %s", "done"))
    assert text.endswith("modaline.test: step done [job_id=job9]")


KEY = "mdl_" + "A" * 43


@pytest.mark.parametrize(
    "message",
    [
        f"key {KEY} refused",
        f"headers {{'Authorization': 'Bearer {KEY}'}}",
        "Authorization: Bearer sk-or-v1-0123456789abcdef0123456789abcdef",
        "calling with api_key=sk-proj-0123456789abcdefghij",
        "token=hf_abcdefghijklmnopqrstuvwxyz012345 rejected",
        "OPENROUTER_API_KEY=sk-or-v1-0123456789abcdef0123456789abcdef",
    ],
)
def test_secrets_never_reach_a_log_line(message: str) -> None:
    for formatter in (JsonFormatter("gateway"), TextFormatter()):
        out = formatter.format(record(message))
        for secret in (KEY, "sk-or-v1-0123456789abcdef", "sk-proj-0123456789", "hf_abcdefghij"):
            assert secret not in out
        assert "[redacted]" in out


def test_secrets_in_a_traceback_are_masked_too() -> None:
    out = JsonFormatter("gateway").format(record("boom", exc=RuntimeError(f"bad key {KEY}")))
    assert KEY not in out and "RuntimeError: bad key [redacted]" in json.loads(out)["exception"]


def test_configure_logging_routes_uvicorn_through_our_json_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler(io.StringIO()))  # what uvicorn's own config would add
    try:
        telemetry.configure_logging("worker-llm", "json")
        with telemetry.job_context("j1", "s1"):
            uvicorn_error.info("Application startup complete.")
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_modaline", False):
                root.removeHandler(handler)
        root.handlers[:] = before[0]
        root.setLevel(before[1])
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["logger"] == "uvicorn.error" and line["service"] == "worker-llm" and line["job_id"] == "j1"
    assert uvicorn_error.handlers == []


@pytest.mark.parametrize(("value", "expected"), [(None, "json"), ("text", "text"), (" JSON ", "json")])
def test_the_log_format_setting(value: str | None, expected: str) -> None:
    env = {} if value is None else {"MODALINE_LOG_FORMAT": value}
    assert telemetry.log_format(env) == expected


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json or text"):
        telemetry.log_format({"MODALINE_LOG_FORMAT": "yaml"})
