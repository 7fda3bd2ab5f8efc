"""The gateway's domain error tree. Routes and data functions raise these; ``api/problems.py`` maps them
to problem+json responses in one place. Nothing here knows about HTTP except the status each class implies."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the API turns into a problem document."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str = "", *, title: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if title is not None:
            self.title = title


class BadRequestError(GatewayError):
    """The request is malformed in a way no schema caught (e.g. an unreadable cursor)."""

    status = 400
    title = "Bad request"


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

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None, title: str | None = None):
        super().__init__(detail, title=title)
        self.errors = errors or []


class IdempotencyMismatchError(InvalidInputError):
    """An Idempotency-Key was reused with a different request body."""

    title = "Idempotency key reused"


class UnavailableError(GatewayError):
    status = 503
    title = "Service unavailable"
