"""The one place where provider-client exceptions become contract errors.

Remote backends wrap every provider call in :func:`upstream_errors`. The rules below cover the whole
exception families of the clients we use — ``openai`` (``OpenAIError``), ``huggingface_hub`` (``HfHubHTTPError``,
``InferenceTimeoutError``, text-generation errors) and ``httpx2`` (which both clients send through) — so a test
can check that every provider class lands on a contract error with the right status and ``retryable`` flag.
"""

from __future__ import annotations

import email.utils
import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from workers.kit.errors import (
    UpstreamAuth,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    WorkerError,
)

if TYPE_CHECKING:
    import httpx2

_MAX_DETAIL = 300


def retry_after_from(response: httpx2.Response | None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``/``Retry-After`` (seconds or HTTP date) or HF's ``estimated_time``."""
    if response is None:
        return None
    headers = response.headers
    if (millis := _as_float(headers.get("retry-after-ms"))) is not None:
        return millis / 1000
    raw = headers.get("retry-after")
    if (seconds := _as_float(raw)) is not None:
        return seconds
    if raw:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - time.time())
    body = _json_body(response)
    return _as_float(body.get("estimated_time")) if isinstance(body, dict) else None


def from_status(
    status: int, message: str, *, provider: str, response: httpx2.Response | None = None
) -> UpstreamError:
    """Map an upstream HTTP status to the contract error a gateway should see."""
    detail = f"{provider} answered {status}: {_short(message)}"
    if status in (400, 413, 422):
        return UpstreamRejected(detail)
    if status in (401, 402, 403):
        return UpstreamAuth(detail)
    if status in (404, 410):
        return UpstreamNotFound(detail)
    if status == 429:
        return UpstreamRateLimited(detail, retry_after=retry_after_from(response))
    if status in (408, 504):
        return UpstreamTimeout(detail)
    if status == 503:
        return UpstreamUnavailable(detail, retry_after=retry_after_from(response))
    if status >= 500 or status in (409, 425):
        return UpstreamUnavailable(detail, status=502, retry_after=retry_after_from(response))
    return UpstreamError(detail)


Rule = Callable[[Any, str], UpstreamError]


def _status_rule(exc: Any, provider: str) -> UpstreamError:
    response = getattr(exc, "response", None)
    status = response.status_code if response is not None else 502
    message = getattr(exc, "server_message", None) or getattr(exc, "message", None) or _first_line(exc)
    return from_status(status, message, provider=provider, response=response)


def _simple(cls: type[UpstreamError], what: str) -> Rule:
    def rule(exc: Any, provider: str) -> UpstreamError:
        return cls(f"{provider} {what}: {_short(_first_line(exc))}")

    return rule


def _openai_rules() -> list[tuple[type[BaseException], Rule]]:
    import openai  # already imported: this runs only when sys.modules has it

    return [
        (openai.APITimeoutError, _simple(UpstreamTimeout, "timed out")),
        (openai.APIConnectionError, _simple(UpstreamUnavailable, "is unreachable")),
        (openai.APIStatusError, _status_rule),
        (openai.ContentFilterFinishReasonError, _simple(UpstreamRejected, "filtered the content")),
        (openai.OpenAIError, _simple(UpstreamError, "returned an unusable answer")),
    ]


def _hf_rules() -> list[tuple[type[BaseException], Rule]]:
    from huggingface_hub import errors as hf

    return [
        (hf.InferenceTimeoutError, _simple(UpstreamTimeout, "timed out")),
        (hf.HfHubHTTPError, _status_rule),
        (hf.OverloadedError, _simple(UpstreamUnavailable, "is overloaded")),
        (hf.ValidationError, _simple(UpstreamRejected, "rejected the input")),
        (hf.TextGenerationError, _simple(UpstreamError, "failed to generate")),
        (hf.OfflineModeIsEnabled, _simple(UpstreamUnavailable, "is disabled by HF_HUB_OFFLINE")),
        (hf.HFValidationError, _simple(UpstreamNotFound, "cannot use this model id")),
    ]


def _httpx2_rules() -> list[tuple[type[BaseException], Rule]]:
    import httpx2

    return [
        (httpx2.TimeoutException, _simple(UpstreamTimeout, "timed out")),
        (httpx2.HTTPStatusError, _status_rule),
        (httpx2.TransportError, _simple(UpstreamUnavailable, "is unreachable")),
        (httpx2.HTTPError, _simple(UpstreamError, "returned an unusable answer")),
        (httpx2.InvalidURL, _simple(UpstreamNotFound, "URL is invalid")),
        (httpx2.StreamError, _simple(UpstreamError, "stream failed")),
    ]


#: Rule families in match order: huggingface_hub's errors derive from httpx2.HTTPError, so they come first.
#: A family applies once its client is imported; a client never imported cannot have raised anything, and
#: workers that do not use ``openai`` skip its (slow) import.
_FAMILIES: dict[str, Callable[[], list[tuple[type[BaseException], Rule]]]] = {
    "openai": _openai_rules,
    "huggingface_hub": _hf_rules,
    "httpx2": _httpx2_rules,
}


def rules() -> tuple[tuple[type[BaseException], Rule], ...]:
    """The rules of every provider client imported so far, most specific first; the first match wins."""
    return _rules_for(tuple(name for name in _FAMILIES if name in sys.modules))


@functools.cache
def _rules_for(families: tuple[str, ...]) -> tuple[tuple[type[BaseException], Rule], ...]:
    return tuple(rule for family in families for rule in _FAMILIES[family]())


def rule_for(exc_type: type[BaseException]) -> Rule | None:
    """The rule that handles ``exc_type``, or None when it is not a provider error."""
    return next((rule for cls, rule in rules() if issubclass(exc_type, cls)), None)


def translate(exc: BaseException, provider: str) -> WorkerError | None:
    """The contract error for a provider exception, or None when ``exc`` is not one."""
    if isinstance(exc, WorkerError):
        return exc
    rule = rule_for(type(exc))
    return rule(exc, provider) if rule is not None else None


@contextmanager
def upstream_errors(provider: str) -> Iterator[None]:
    """Re-raise provider exceptions raised inside the block as contract errors."""
    try:
        yield
    except Exception as exc:
        mapped = translate(exc, provider)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc


def _as_float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _json_body(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except Exception:  # not read (streamed), not JSON: there is simply no hint
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
