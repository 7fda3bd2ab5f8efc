"""The gateway's domain error tree. Routes and data functions raise these; ``api/problems.py`` maps them
to problem+json responses in one place. Nothing here knows about HTTP except the status each class implies."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the API turns into a problem document."""

    status = 500
    title = "Internal error"
    #: A machine-readable reason (``model_not_found``…), shown as ``code`` in OpenAI's error envelope.
    code: str | None = None
    #: The request parameter at fault, shown as ``param`` in OpenAI's error envelope.
    param: str | None = None

    def __init__(
        self,
        detail: str = "",
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        if title is not None:
            self.title = title
        if code is not None:
            self.code = code
        if param is not None:
            self.param = param


class BadRequestError(GatewayError):
    """The request is malformed in a way no schema caught (e.g. an unreadable cursor)."""

    status = 400
    title = "Bad request"


class UnauthorizedError(GatewayError):
    """No credentials, or credentials that are not a live key; answered with ``WWW-Authenticate``."""

    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="modaline"'})


class ForbiddenError(GatewayError):
    """A valid key without the scope the request needs, or a bad or expired signed URL."""

    status = 403
    title = "Forbidden"


class RateLimitedError(GatewayError):
    """A tenant's limit is used up for now; the headers say when to come back."""

    status = 429
    title = "Too many requests"


class NotFoundError(GatewayError):
    status = 404
    title = "Not found"


class ConflictError(GatewayError):
    """The resource is in a state that does not allow the request (e.g. canceling a finished job)."""

    status = 409
    title = "Conflict"


class PayloadTooLargeError(GatewayError):
    status = 413
    title = "Request too large"


class InvalidInputError(GatewayError):
    """The request is well-formed but its values are wrong; ``errors`` lists each ``{field, message}``."""

    status = 422
    title = "Invalid input"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        title: str | None = None,
        code: str | None = None,
    ):
        super().__init__(detail, title=title, code=code)
        self.errors = errors or []


class IdempotencyMismatchError(InvalidInputError):
    """An Idempotency-Key was reused with a different request body."""

    title = "Idempotency key reused"


class UnavailableError(GatewayError):
    status = 503
    title = "Service unavailable"


class JobFailedError(GatewayError):
    """A request that answers with a job's result (the OpenAI-compatible routes) found the job failed or
    canceled: the job and its error stay in the history under ``detail``'s job id."""

    status = 502
    title = "Job failed"


class JobTimeoutError(GatewayError):
    """A request that answers with a job's result gave up waiting; the job itself goes on."""

    status = 504
    title = "Job still running"


class InsufficientStorageError(GatewayError):
    """The files root is nearly full: new work is refused before it could fail half-way."""

    status = 507
    title = "Insufficient storage"
