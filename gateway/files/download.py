"""Serve a stored file with HTTP range support (RFC 9110 §14), streamed in chunks from the storage.

The gateway streams every download itself, from a directory or from object storage alike (one ranged GET
to the bucket per request, after a HEAD for the size): ``Range`` works the same everywhere, the answer keeps
the gateway's own headers, and the bucket need not be reachable from the caller. An operator may instead
send object-storage downloads to a presigned URL (``MODALINE_FILES_DOWNLOAD=redirect``; the route decides).

- No ``Range`` (or one this module ignores) → ``200`` with the whole file.
- One satisfiable range (``bytes=a-b``, open ``bytes=a-``, suffix ``bytes=-n``) → ``206`` + ``Content-Range``.
- No satisfiable range → ``416`` with ``Content-Range: bytes */<size>`` and a problem+json body.
- Several ranges (``bytes=0-1,5-6``) are answered with the whole file (``200``), which RFC 9110 allows;
  a syntactically invalid or non-``bytes`` Range header is ignored the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from workers.kit.storage import CHUNK_BYTES, FileStorage, ObjectNotFound

__all__ = ["CHUNK_BYTES", "ByteRange", "RangeNotSatisfiable", "parse_range", "stored_file_response"]


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``start..end`` of a file."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """The Range header names only bytes past the end of the file."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range a ``Range`` header asks for, ``None`` to send the whole file.

    Raises :class:`RangeNotSatisfiable` when the one range requested lies outside ``0..size-1``.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid per RFC 9110 §14.1.1: ignore the header
    if start >= size:
        raise RangeNotSatisfiable
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end)


def _content_disposition(name: str) -> str:
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name) or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def stored_file_response(
    storage: FileStorage,
    key: str,
    *,
    content_type: str,
    range_header: str | None,
    etag: str | None = None,
    download_name: str | None = None,
) -> Response:
    """A response for the file at ``key``: 200 whole, 206 one range, or 416 (see the module docstring).

    The file is opened (the GET sent) before the response is made, so a missing file raises
    :class:`~workers.kit.storage.ObjectNotFound` (a ``FileNotFoundError``; the caller maps it to 404), and
    a bad key ``InvalidKey`` (a ``ValueError``); storage failures raise their ``StorageError``.
    """
    info = await storage.astat(key)
    if info is None:
        raise ObjectNotFound(key)
    size = info.size
    headers = {"accept-ranges": "bytes", "x-content-type-options": "nosniff"}
    if etag is not None:
        headers["etag"] = etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'
    if download_name:
        headers["content-disposition"] = _content_disposition(download_name)
    try:
        wanted = parse_range(range_header, size)
    except RangeNotSatisfiable:
        return _unsatisfiable(size, range_header or "", headers)
    if wanted is None:
        headers["content-length"] = str(size)
        body = await storage.aread_chunks(key, start=0, length=size)
        return StreamingResponse(body, status_code=200, media_type=content_type, headers=headers)
    headers["content-length"] = str(wanted.length)
    headers["content-range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
    body = await storage.aread_chunks(key, start=wanted.start, length=wanted.length)
    return StreamingResponse(body, status_code=206, media_type=content_type, headers=headers)


def _unsatisfiable(size: int, header: str, headers: dict[str, str]) -> Response:
    problem = {
        "type": "about:blank",
        "title": "Range Not Satisfiable",
        "status": 416,
        "detail": f"The range '{header}' lies outside the file's {size} bytes.",
        "retryable": False,
    }
    headers = {**headers, "content-range": f"bytes */{size}"}
    return Response(
        json.dumps(problem), status_code=416, media_type="application/problem+json", headers=headers
    )
