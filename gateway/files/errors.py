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


def human_bytes(size: int) -> str:
    """A size as people read it, in decimal units: ``50_000_000`` → ``50 MB``, ``1_500`` → ``1.5 kB``."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def too_large(limit: int, *, field: str | None = None, what: str = "file") -> UploadError:
    """413: a file or field passed its size limit (said in words and in bytes)."""
    where = f" in field '{field}'" if field else ""
    return UploadError(
        413,
        "Upload too large",
        f"The {what}{where} exceeds the limit of {limit} bytes ({human_bytes(limit)}).",
        field=field,
    )
