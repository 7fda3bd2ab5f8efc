"""What a field accepts, and the checks that turn a sniffed format into a clear 415/422.

Rules, in order: an empty file is 422; an unrecognised format is 415; a format of the wrong kind or
outside ``accept`` is 415; a file that contradicts the client's declared ``Content-Type`` is 422
(a declared type of the same kind but another subtype, e.g. ``audio/mpeg`` for a WAV, is tolerated:
browsers and tools guess subtypes from extensions; ``application/octet-stream`` declares nothing).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from gateway.files.errors import UploadError
from gateway.files.sniff import SUPPORTED, FileKind, Sniffed, describe_unknown, sniff

_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
_ALIASES = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-flac": "audio/flac",
    "audio/opus": "audio/ogg",
    "application/ogg": "audio/ogg",
    "video/ogg": "audio/ogg",
    "video/webm": "audio/webm",
    "video/x-matroska": "audio/x-matroska",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "video/mp4": "audio/mp4",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
}


def normalise_type(content_type: str | None) -> str:
    """Lower-case media type without parameters, with common aliases mapped to the canonical name."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


@dataclass(frozen=True)
class TypeRule:
    """The type constraints of one upload field (all optional)."""

    expect_kind: FileKind | None = None
    declared_type: str | None = None
    accept: Collection[str] | None = None
    field: str | None = None

    def check(self, head: bytes) -> Sniffed:
        """Sniff ``head`` (the file's first bytes) and return its format, or raise :class:`UploadError`."""
        if not head:
            raise UploadError(422, "Empty file", f"The {self._subject()} is empty.", field=self.field)
        found = sniff(head)
        if found is None:
            raise UploadError(
                415,
                "Unsupported file type",
                f"{self._expects()} but the file is {describe_unknown(head)}.",
                field=self.field,
            )
        if not self._allows(found):
            raise UploadError(
                415,
                "Unsupported file type",
                f"{self._expects()} but the file is {found.label}.",
                field=self.field,
            )
        declared = normalise_type(self.declared_type)
        if declared not in _GENERIC_TYPES and not _compatible(declared, found):
            raise UploadError(
                422,
                "File type mismatch",
                f"The {self._subject()} was declared as '{declared}' but the file is {found.label}.",
                field=self.field,
            )
        return found

    def _allows(self, found: Sniffed) -> bool:
        if self.expect_kind is not None and found.kind != self.expect_kind:
            return False
        return self.accept is None or any(_matches(entry, found) for entry in self.accept)

    def _subject(self) -> str:
        return f"file in field '{self.field}'" if self.field else "uploaded file"

    def _expects(self) -> str:
        who = f"Field '{self.field}'" if self.field else "This upload"
        if self.accept is not None:
            return f"{who} accepts {', '.join(sorted(self.accept))}"
        formats = [s for s in SUPPORTED if self.expect_kind in (None, s.kind)]
        names = ", ".join(dict.fromkeys(s.extension for s in formats))
        noun = self.expect_kind or "an image or audio file"
        return f"{who} expects {noun} ({names})"


def _matches(entry: str, found: Sniffed) -> bool:
    """An ``accept`` entry is an extension (``wav``), a media type (``audio/wav``) or a wildcard (``audio/*``)."""
    wanted = entry.strip().lower().lstrip(".")
    if "/" not in wanted:
        return wanted == found.extension or (wanted in ("jpeg", "jpg") and found.extension == "jpg")
    if wanted.endswith("/*"):
        return wanted[:-2] == found.kind
    return normalise_type(wanted) == found.content_type


def _compatible(declared: str, found: Sniffed) -> bool:
    """A declared type agrees with the sniffed one when it names the same kind (or is a known alias)."""
    major = declared.split("/", 1)[0]
    return declared == found.content_type or major == found.kind
