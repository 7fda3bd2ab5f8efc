"""The one error this package raises for a bad upload; the gateway maps it to problem+json."""

from __future__ import annotations

from typing import Any


class UploadError(Exception):
    """A client-caused upload failure with the HTTP status it deserves.

    ``status`` is 400 (malformed body), 413 (too large), 415 (unsupported or unaccepted type) or 422
    (empty, corrupt, or contradicting its declared type). ``field`` names the form field at fault, if any.
    """

    def __init__(self, status: int, title: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field

    def problem(self) -> dict[str, Any]:
        """An RFC 9457 body for this error (``retryable`` false: resending the same bytes won't help)."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "retryable": False,
        }
        if self.field is not None:
            body["field"] = self.field
        return body

    def __repr__(self) -> str:
        return f"UploadError({self.status}, {self.title!r}, {self.detail!r}, field={self.field!r})"


def malformed(detail: str) -> UploadError:
    """400: the request body is not a well-formed multipart form."""
    return UploadError(400, "Malformed upload", detail)


def too_large(limit: int, *, field: str | None = None, what: str = "file") -> UploadError:
    """413: a file or field passed its size limit."""
    where = f" in field '{field}'" if field else ""
    return UploadError(
        413, "Upload too large", f"The {what}{where} exceeds the limit of {limit} bytes.", field=field
    )
