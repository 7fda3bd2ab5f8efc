"""Every way a ``modaline`` command can fail, each with its exit code and a message in plain words.

The HTTP client (``client.py``) translates transport errors and the gateway's problem+json answers into
these in one place; ``main.py`` prints the message and exits with the code. Nothing here ever holds the
API key.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What the process exit status means (documented in README and ``modaline --help``)."""

    OK = 0
    JOB_FAILED = 1  # a job that was waited for ended failed or canceled
    USAGE = 2  # a mistake in the command or its inputs (also click's own usage errors)
    UNREACHABLE = 3  # the gateway could not be reached, or the connection was lost for good
    AUTH = 4  # no key, a wrong or revoked key (401), or a key without the scope (403)
    GATEWAY = 5  # the gateway failed (5xx), is limiting this tenant (429), or answered nonsense
    INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    """A failure the user must see: ``message`` is printed to standard error, ``code`` is the exit status."""

    code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def as_json(self) -> dict[str, Any]:
        """The error for ``--json`` mode (one JSON object on standard error)."""
        return {"error": self.message, "exit_code": int(self.code)}


class Unreachable(CliError):
    """No answer from the gateway: refused, timed out, or a name that does not resolve."""

    code = ExitCode.UNREACHABLE


#: Turns a problem's ``errors[].field`` into the words the user typed (``text`` → ``--text``).
FieldLabel = Callable[[str], str]


def _plain_field(field: str) -> str:
    return field


class ApiError(CliError):
    """The gateway answered with an error status; ``problem`` is its problem+json body (or {})."""

    def __init__(
        self,
        status: int,
        problem: dict[str, Any],
        *,
        had_key: bool,
        retry_after: str | None = None,
        field_label: FieldLabel = _plain_field,
    ) -> None:
        self.status = status
        self.problem = problem
        super().__init__(
            _describe(status, problem, had_key=had_key, retry_after=retry_after, field_label=field_label),
            code=_code_for(status),
        )

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "status": self.status, "problem": self.problem}


def _code_for(status: int) -> ExitCode:
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 429 or status >= 500:
        return ExitCode.GATEWAY
    return ExitCode.USAGE


def _describe(
    status: int, problem: dict[str, Any], *, had_key: bool, retry_after: str | None, field_label: FieldLabel
) -> str:
    title = str(problem.get("title") or f"HTTP {status}")
    detail = str(problem.get("detail") or "")
    if status == 401:
        if had_key:
            return (
                f"the gateway refused the API key ({detail or title}); "
                "check MODALINE_API_KEY or --key: it may be mistyped, expired or revoked"
            )
        return "the gateway needs an API key: set MODALINE_API_KEY (or pass --key mdl_…)"
    if status == 403:
        return f"this API key is not allowed to do that: {detail or title}"
    if status == 429:
        wait = f"; try again in {retry_after} s" if retry_after else ""
        return f"too many requests: {detail or title}{wait}"
    errors = problem.get("errors")
    if isinstance(errors, list) and errors:
        lines = [f"{title}:"]
        for error in errors:
            if isinstance(error, dict):
                field = field_label(str(error.get("field", "")))
                lines.append(f"  {field}: {error.get('message', 'is invalid')}")
        return "\n".join(lines)
    if status >= 500:
        return f"the gateway failed ({status} {title}){': ' + detail if detail else ''}"
    return f"{title}: {detail}" if detail else title
