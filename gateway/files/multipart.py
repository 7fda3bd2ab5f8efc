"""Parse a ``multipart/form-data`` request while it streams in, storing each file part as it arrives.

python-multipart's push parser calls synchronous callbacks; they only queue events, which are then
handled asynchronously after each chunk (the pattern Starlette's own form parser uses). File parts
go through the same :class:`~gateway.files.spool.Spool` as :func:`~gateway.files.spool.store_stream`,
so no file is ever held whole in memory. On any error every file already stored for the request is
deleted (shielded from cancellation) before the error propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from gateway.files.errors import UploadError, malformed, too_large
from gateway.files.policy import TypeRule
from gateway.files.sniff import FileKind
from gateway.files.spool import Spool, StoredFile, delete_stored
from workers.kit.storage import FileStorage

_MAX_HEADER_BYTES = 8192


@dataclass(frozen=True)
class FileRule:
    """What one file field accepts: a kind, an optional tighter size limit and optional ``accept`` list."""

    kind: FileKind | None = None
    max_bytes: int | None = None
    accept: tuple[str, ...] | None = None


@dataclass
class MultipartForm:
    """The parsed form: text fields as ``str`` and file fields already stored."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)


@dataclass
class _Part:
    """Headers and destination of the part being parsed."""

    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    spool: Spool | None = None
    text: bytearray = field(default_factory=bytearray)
    unselected: bool = False


class _FormReader:
    """Turns parser events into fields and stored files, enforcing the limits."""

    def __init__(
        self,
        *,
        storage: FileStorage,
        max_bytes: int,
        file_rules: Mapping[str, FileRule] | None,
        max_fields: int,
        max_field_bytes: int,
    ) -> None:
        self.form = MultipartForm()
        self.finished = False
        self._storage = storage
        self._max_bytes = max_bytes
        self._rules = file_rules
        self._max_fields = max_fields
        self._max_field_bytes = max_field_bytes
        self._parts = 0
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self.events: list[tuple[str, bytes, bytes]] = []

    # --- synchronous parser callbacks: they only queue events for :meth:`dispatch` ---

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self.events.append(("header", bytes(self._header_name), bytes(self._header_value)))
        self._header_name.clear()
        self._header_value.clear()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        """The callback table for :class:`MultipartParser`."""
        queue = self.events.append
        return {
            "on_part_begin": lambda: queue(("begin", b"", b"")),
            "on_part_data": lambda data, start, end: queue(("data", data[start:end], b"")),
            "on_part_end": lambda: queue(("end_part", b"", b"")),
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": lambda: queue(("headers", b"", b"")),
            "on_end": lambda: queue(("end", b"", b"")),
        }

    async def dispatch(self) -> None:
        """Handle the queued events in order, then forget them."""
        for kind, first, second in self.events:
            if kind == "data":
                await self.data(first)
            elif kind == "header":
                name = first.decode("latin-1").strip().lower()
                self._part.headers[name] = second.decode("latin-1").strip()
            elif kind == "begin":
                await self.begin_part()
            elif kind == "headers":
                await self.headers_done()
            elif kind == "end_part":
                await self.end_part()
            else:
                self.finished = True
        self.events.clear()

    # --- asynchronous handlers, called in order after each chunk ---

    async def begin_part(self) -> None:
        self._parts += 1
        if self._parts > self._max_fields:
            raise UploadError(
                413, "Too many form fields", f"The form has more than {self._max_fields} parts."
            )
        self._part = _Part()

    async def headers_done(self) -> None:
        part = self._part
        disposition, params = parse_options_header(part.headers.get("content-disposition", ""))
        raw_name = params.get(b"name")
        if disposition != b"form-data" or raw_name is None:
            raise malformed("Every part needs 'Content-Disposition: form-data' with a name.")
        part.name = _decode(raw_name)
        self._refuse_duplicate(part.name)
        filename = params.get(b"filename")
        is_file = filename is not None or (self._rules is not None and part.name in self._rules)
        if not is_file:
            return
        if self._rules is not None and part.name not in self._rules:
            raise UploadError(
                422, "Unexpected file", f"Field '{part.name}' does not take a file.", field=part.name
            )
        rule = (self._rules or {}).get(part.name, FileRule())
        limit = min(self._max_bytes, rule.max_bytes or self._max_bytes)
        type_rule = TypeRule(
            expect_kind=rule.kind,
            declared_type=part.headers.get("content-type"),
            accept=rule.accept,
            field=part.name,
        )
        original = _decode(filename) if filename is not None else None
        part.unselected = filename == b""
        part.spool = Spool(self._storage, max_bytes=limit, rule=type_rule, original_name=original)
        await part.spool.open()

    async def data(self, chunk: bytes) -> None:
        part = self._part
        if part.spool is not None:
            await part.spool.write(chunk)
            return
        part.text += chunk
        if len(part.text) > self._max_field_bytes:
            raise too_large(self._max_field_bytes, field=part.name, what="text field")

    async def end_part(self) -> None:
        part = self._part
        self._part = _Part()
        if part.spool is None:
            self.form.fields[part.name] = _text(part)
            return
        spool, part.spool = part.spool, None
        if spool.size == 0 and part.unselected:
            spool.discard()  # a browser's <input type=file> left empty: the field is simply absent
            return
        try:
            stored = await spool.publish()
        finally:
            spool.discard()  # removes the temp file if publishing failed; a no-op after success
        self.form.files[part.name] = stored

    async def cleanup(self) -> None:
        """Forget everything stored so far: the in-flight temp file and every published file."""
        if self._part.spool is not None:
            self._part.spool.discard()
        with anyio.CancelScope(shield=True):
            for stored in self.form.files.values():
                await delete_stored(self._storage, stored)
        self.form.files.clear()

    def _refuse_duplicate(self, name: str) -> None:
        if name in self.form.fields or name in self.form.files:
            raise UploadError(422, "Duplicate field", f"Field '{name}' appears more than once.", field=name)


def _decode(raw: bytes) -> str:
    """Header parameters arrive as UTF-8 from browsers; fall back to Latin-1 for anything else."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _text(part: _Part) -> str:
    try:
        return part.text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UploadError(
            422, "Invalid text field", f"Field '{part.name}' is not valid UTF-8 text.", field=part.name
        ) from exc


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise UploadError(
            415,
            "Unsupported media type",
            f"Expected a multipart/form-data body, got '{content_type.decode('latin-1') or 'nothing'}'.",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise malformed("The multipart/form-data Content-Type has no boundary parameter.")
    return boundary


async def receive_multipart(
    request: Request,
    *,
    storage: FileStorage,
    max_bytes: int,
    file_rules: Mapping[str, FileRule] | None = None,
    max_fields: int = 64,
    max_field_bytes: int = 1_000_000,
) -> MultipartForm:
    """Stream-parse ``request``'s multipart body, storing files as ``uploads/<id>`` of ``storage``.

    A part is a file when it carries a ``filename`` or its name is in ``file_rules``; when
    ``file_rules`` is given, a file in any other field is refused (422). Each file is limited to
    ``max_bytes`` (or its rule's smaller ``max_bytes``), each text field to ``max_field_bytes``, the
    number of parts to ``max_fields`` (413). Errors are :class:`UploadError` (400 malformed, 413,
    415 non-multipart or bad type, 422); on any error no file of this request is left stored.
    """
    reader = _FormReader(
        storage=storage,
        max_bytes=max_bytes,
        file_rules=file_rules,
        max_fields=max_fields,
        max_field_bytes=max_field_bytes,
    )
    try:
        await _pump(request, _boundary(request), reader)
    except BaseException:
        await reader.cleanup()
        raise
    return reader.form


async def _pump(request: Request, boundary: bytes, reader: _FormReader) -> None:
    """Feed the body to the parser, handling the queued events after each chunk."""
    try:
        parser = MultipartParser(boundary, reader.callbacks(), max_header_size=_MAX_HEADER_BYTES)  # type: ignore[arg-type]
    except FormParserError as exc:
        raise malformed(str(exc)) from exc
    async for chunk in request.stream():
        if not chunk:
            continue
        try:
            parser.write(chunk)
        except FormParserError as exc:
            raise malformed(f"The multipart body is malformed: {exc}") from exc
        await reader.dispatch()
    parser.finalize()
    await reader.dispatch()
    if not reader.finished:
        raise malformed("The multipart body ended before its closing boundary.")
