"""OpenTelemetry traces for the gateway and every worker, off unless the standard ``OTEL_*`` variables ask.

Tracing turns on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or
``OTEL_TRACES_EXPORTER`` is set, and ``OTEL_SDK_DISABLED=true`` always wins. When it is off, :func:`tracing_on`
is False and callers skip span work entirely (no provider, no context look-ups: zero cost on the hot path).
The provider lives here rather than in OpenTelemetry's global, so tests can install one with an in-memory
exporter and take it away again. Context crosses process boundaries as W3C ``traceparent`` only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("modaline.telemetry")

_PROPAGATOR = TraceContextTextMapPropagator()
#: Exporters ``OTEL_TRACES_EXPORTER`` may name here (comma-separated); ``none`` turns tracing off.
EXPORTERS = ("otlp", "console", "none")


class _State:
    provider: Any = None  # an SDK TracerProvider while tracing is on
    tracers: dict[str, Tracer] = {}


_STATE = _State()


def tracing_on() -> bool:
    """True while a provider records spans (callers test this before doing any span work)."""
    return _STATE.provider is not None


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the standard variables ask for traces: an OTLP endpoint or an exporter, not disabled."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = [
        name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()
    ]
    if exporters:
        return exporters != ["none"]
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Start exporting this process's spans when the environment asks (see the module doc); True if on.

    ``service.name`` is ``service_name`` unless ``OTEL_SERVICE_NAME`` (or ``OTEL_RESOURCE_ATTRIBUTES``)
    names it; the exporter reads its own ``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers, timeout).
    """
    env = os.environ if environ is None else environ
    if not wanted(env):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {SERVICE_NAME: service_name}))
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    for name in names or ["otlp"]:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name != "none":
            raise ValueError(
                f"OTEL_TRACES_EXPORTER={name!r} is not supported here: use one of {', '.join(EXPORTERS)} "
                "(spans leave over OTLP/HTTP with protobuf)"
            )
    install(provider)
    log.info("tracing on: service %s, exporters %s", service_name, ",".join(names or ["otlp"]))
    return True


def install(provider: Any) -> None:
    """Record spans with ``provider`` (an SDK TracerProvider) from now on; tests pass one with an in-memory
    exporter."""
    _STATE.provider = provider
    _STATE.tracers = {}


def shutdown() -> None:
    """Flush and stop the provider (spans still buffered are exported); tracing is off afterwards."""
    provider, _STATE.provider = _STATE.provider, None
    _STATE.tracers = {}
    if provider is not None:
        provider.shutdown()


def tracer(name: str) -> Tracer:
    """The tracer for one of our modules (only while :func:`tracing_on`)."""
    found = _STATE.tracers.get(name)
    if found is None:
        found = _STATE.tracers[name] = _STATE.provider.get_tracer(name)
    return found


#: What :func:`span` returns while tracing is off: one shared no-op context manager (no allocation).
_OFF: AbstractContextManager[None] = nullcontext(None)


def span(
    scope: str,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    parent: otel_context.Context | None = None,
) -> AbstractContextManager[Span | None]:
    """A current span named ``name``; while tracing is off, a shared no-op that yields None.

    ``parent`` None means the current span. An exception leaving the block marks the span as an error with
    the exception's type only: messages may quote user content, so they stay out of traces.
    """
    if _STATE.provider is None:
        return _OFF
    return _recording_span(scope, name, kind, attributes, parent)


@contextmanager
def _recording_span(
    scope: str,
    name: str,
    kind: SpanKind,
    attributes: Mapping[str, Any] | None,
    parent: otel_context.Context | None,
) -> Iterator[Span]:
    with tracer(scope).start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes={k: v for k, v in (attributes or {}).items() if v is not None},
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            current.set_attribute("error.type", type(exc).__name__)
            raise


def set_attributes(target: Span | None, **attributes: Any) -> None:
    """Set ``modaline.<name>`` attributes on a span (skipping None values); a no-op without a span."""
    if target is None:
        return
    for key, value in attributes.items():
        if value is not None:
            target.set_attribute(f"modaline.{key}", value)


def mark_failed(target: Span | None, error_type: str) -> None:
    """Mark a span failed with a short error type (never a message: it may quote user content)."""
    if target is not None:
        target.set_status(Status(StatusCode.ERROR, error_type))
        target.set_attribute("error.type", error_type)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, or None when there is none (or tracing is off)."""
    if _STATE.provider is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def inject(headers: MutableMapping[str, str]) -> None:
    """Add ``traceparent`` for the current span to outgoing ``headers`` (nothing while tracing is off)."""
    if _STATE.provider is not None:
        _PROPAGATOR.inject(headers)


def extract(carrier: Mapping[str, str] | None) -> otel_context.Context | None:
    """The remote parent named by a ``traceparent`` in ``carrier`` (headers, or ``{"traceparent": …}``);
    None when tracing is off or there is none (a malformed one is ignored, as the W3C spec says)."""
    if _STATE.provider is None or not carrier:
        return None
    value = carrier.get("traceparent")
    if not value:
        return None
    return _PROPAGATOR.extract({"traceparent": value})


def current_trace_id() -> str | None:
    """The current trace's id as 32 hex digits, or None (used by the log records)."""
    if _STATE.provider is None:
        return None
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
