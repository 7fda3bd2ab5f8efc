"""Log records as JSON lines (or text for a terminal), with the job, step and trace they are about.

``MODALINE_LOG_FORMAT=json|text`` (default json) in the gateway and every worker. Code that works on a job
wraps it in :func:`job_context` (a contextvar, so every line logged inside — by our code, a library, or a
thread the work was handed to with ``contextvars.copy_context()`` — carries ``job_id`` and ``step_id``), and
``trace_id`` is added whenever a span is current. Uvicorn's loggers are routed through the same handler.
Secrets never reach the output: API keys, bearer tokens and ``Authorization`` values are masked in the
message and in tracebacks.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from workers.kit.telemetry.tracing import current_trace_id

LogFormat = Literal["json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")

_JOB: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "modaline_log_job", default=(None, None)
)

#: What must never be printed: Modaline keys, provider keys (OpenRouter/OpenAI, Hugging Face), AWS secrets
#: in URLs, and whatever follows ``Authorization``/``Bearer``/``api_key=``.
_SECRETS = re.compile(
    r"(?P<key>mdl_[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{16,})"
    r"|(?P<auth>(?:authorization|x-api-key|api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)"
    r"(?:bearer\s+|basic\s+)?[^\s\"',;}]+"
    r"|(?P<bearer>bearer\s+)[A-Za-z0-9._~+/=-]+",
    re.IGNORECASE,
)
_MASK = "[redacted]"


def redact(text: str) -> str:
    """``text`` with keys, tokens and authorization values replaced by ``[redacted]``."""
    if not text:
        return text

    def mask(match: re.Match[str]) -> str:
        prefix = match.group("auth") or match.group("bearer") or ""
        return prefix + _MASK

    return _SECRETS.sub(mask, text)


@contextmanager
def job_context(job_id: str | None, step_id: str | None = None) -> Iterator[None]:
    """Every record logged inside (in this task, or a thread started with a copy of its context) carries
    ``job_id`` and ``step_id``."""
    token = _JOB.set((job_id, step_id))
    try:
        yield
    finally:
        _JOB.reset(token)


def bind_job(job_id: str | None, step_id: str | None = None) -> None:
    """Set the job (and step) of the current context until it ends (for tasks that run one job)."""
    _JOB.set((job_id, step_id))


def current_job() -> tuple[str | None, str | None]:
    """The ``(job_id, step_id)`` records are tagged with now."""
    return _JOB.get()


class ContextFilter(logging.Filter):
    """Adds ``job_id``, ``step_id`` and ``trace_id`` to each record (explicit ``extra=`` values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id, step_id = _JOB.get()
        if getattr(record, "job_id", None) is None:
            record.job_id = job_id
        if getattr(record, "step_id", None) is None:
            record.step_id = step_id
        if getattr(record, "trace_id", None) is None:
            record.trace_id = current_trace_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, and the job/step/trace when known."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "service": self.service,
        }
        for name in ("job_id", "step_id", "trace_id"):
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message [job_id=… step_id=… trace_id=…]`` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = " ".join(
            f"{name}={value}"
            for name in ("job_id", "step_id", "trace_id")
            if (value := getattr(record, name, None)) is not None
        )
        return redact(f"{text} [{tags}]" if tags else text)


def log_format(environ: dict[str, str] | None = None) -> LogFormat:
    """``MODALINE_LOG_FORMAT`` (json unless set), refusing values other than json and text."""
    raw = (os.environ if environ is None else environ).get("MODALINE_LOG_FORMAT", "json").strip().lower()
    if raw not in LOG_FORMATS:
        raise ValueError(f"MODALINE_LOG_FORMAT must be json or text, not {raw!r}")
    return raw


#: Loggers that install handlers of their own; they are made to go through ours.
_ROUTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error")


def configure_logging(service: str, fmt: LogFormat | None = None, *, level: int | str = logging.INFO) -> None:
    """Send every record (ours, libraries', uvicorn's) to stderr in ``fmt`` (``MODALINE_LOG_FORMAT``)."""
    fmt = fmt or log_format()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_modaline", False):
            root.removeHandler(old)
    handler._modaline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in _ROUTED:
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True
        # A dictConfig/fileConfig run earlier in the process (a library's, or uvicorn's own with
        # disable_existing_loggers) may have disabled these loggers or raised their level: undo that too.
        routed.disabled = False
        routed.setLevel(logging.NOTSET)


#: ``log_config`` for ``uvicorn.run``: leave logging as :func:`configure_logging` set it.
UVICORN_LOG_CONFIG: dict[str, Any] = {"version": 1, "disable_existing_loggers": False}
