"""The worker's error tree. Every failure a worker reports is one of these, rendered as problem+json.

```
WorkerError                      500  not retryable  (a bug; never raised on purpose)
├── InvalidInput                 422  not retryable  bad inputs/options, unreadable or oversized files
├── Overloaded                   429  retryable      more concurrent runs than <CAP>_MAX_CONCURRENCY
├── NotReady                     503  retryable      the model is still loading
├── Misconfigured                503  not retryable  key missing, engine not installed, model failed to load
├── RunTimeout                   504  retryable      the run took longer than <CAP>_TIMEOUT_SECONDS
└── UpstreamError                502  not retryable  the provider answered with something we cannot use
    ├── UpstreamAuth             502  not retryable  the provider refused our key (401/402/403)
    ├── UpstreamNotFound         502  not retryable  the configured model does not exist there (404)
    ├── UpstreamRejected         422  not retryable  the provider refused this input (400/422, content filter)
    ├── UpstreamRateLimited      429  retryable      the provider said slow down (429), with its Retry-After
    ├── UpstreamUnavailable      502/503 retryable   provider 5xx, overloaded, or unreachable
    └── UpstreamTimeout          504  retryable      the provider did not answer in time
```

Provider exceptions are translated to this tree in exactly one place, :mod:`workers.kit.upstream`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from workers.kit.contract import Problem

PROBLEM_TYPE_BASE = "urn:modaline:problem:"


class WorkerError(Exception):
    """Base of every error a worker answers with."""

    status: int = 500
    title: str = "Internal worker error"
    slug: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        if status is not None:
            self.status = status

    def to_problem(self, instance: str | None = None, **extra: Any) -> Problem:
        """The RFC 9457 document for this error."""
        return Problem(
            type=PROBLEM_TYPE_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            retryable=self.retryable,
            **extra,
        )

    def headers(self) -> dict[str, str]:
        """HTTP headers that go with the problem (``Retry-After`` in whole seconds, when known)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(0, round(self.retry_after + 0.499)))}


class InvalidInput(WorkerError):
    status = 422
    title = "Invalid input"
    slug = "invalid-input"


class Overloaded(WorkerError):
    status = 429
    title = "Worker busy"
    slug = "overloaded"
    retryable = True


class NotReady(WorkerError):
    status = 503
    title = "Worker not ready"
    slug = "not-ready"
    retryable = True


class Misconfigured(WorkerError):
    status = 503
    title = "Worker cannot serve"
    slug = "misconfigured"


class RunTimeout(WorkerError):
    status = 504
    title = "Run timed out"
    slug = "timeout"
    retryable = True


class UpstreamError(WorkerError):
    status = 502
    title = "Upstream provider error"
    slug = "upstream-error"


class UpstreamAuth(UpstreamError):
    title = "Upstream provider refused the credentials"
    slug = "upstream-auth"


class UpstreamNotFound(UpstreamError):
    title = "Upstream model not found"
    slug = "upstream-not-found"


class UpstreamRejected(UpstreamError):
    status = 422
    title = "Upstream provider rejected the input"
    slug = "upstream-rejected"


class UpstreamRateLimited(UpstreamError):
    status = 429
    title = "Upstream provider rate limit"
    slug = "upstream-rate-limited"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    status = 503
    title = "Upstream provider unavailable"
    slug = "upstream-unavailable"
    retryable = True


class UpstreamTimeout(UpstreamError):
    status = 504
    title = "Upstream provider timed out"
    slug = "upstream-timeout"
    retryable = True
