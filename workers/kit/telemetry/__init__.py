"""Traces and logs shared by the gateway and the workers; it imports nothing else of ours."""

from workers.kit.telemetry.logs import (
    LOG_FORMATS,
    UVICORN_LOG_CONFIG,
    LogFormat,
    bind_job,
    configure_logging,
    current_job,
    job_context,
    log_format,
    redact,
)
from workers.kit.telemetry.tracing import (
    configure_tracing,
    current_trace_id,
    current_traceparent,
    extract,
    inject,
    install,
    mark_failed,
    set_attributes,
    shutdown,
    span,
    tracing_on,
)

__all__ = [
    "LOG_FORMATS",
    "UVICORN_LOG_CONFIG",
    "LogFormat",
    "bind_job",
    "configure_logging",
    "configure_tracing",
    "current_job",
    "current_trace_id",
    "current_traceparent",
    "extract",
    "inject",
    "install",
    "job_context",
    "log_format",
    "mark_failed",
    "redact",
    "set_attributes",
    "shutdown",
    "span",
    "tracing_on",
]
