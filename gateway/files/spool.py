"""Stream one upload to a local temp file (running hash, size limit, early sniff), then publish it atomically.

Bytes are buffered up to :data:`FLUSH_BYTES` and written (and hashed) in a worker thread, so memory
stays flat whatever the file size and a slow shared volume never blocks the event loop. The temp file lives
in the storage's scratch directory: ``<files root>/.tmp`` for a directory (publishing is one rename), the
local temp directory for object storage (publishing is one PUT, multipart when large, then the temp file
goes). On any failure, cancellation included, the temp file is removed and nothing is stored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterable, Collection
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import anyio
import anyio.to_thread
from PIL import Image, UnidentifiedImageError

from gateway.files.errors import UploadError, too_large
from gateway.files.paths import new_file_id, sanitise_name, upload_path
from gateway.files.policy import TypeRule
from gateway.files.sniff import SNIFF_BYTES, FileKind, Sniffed
from workers.kit.storage import FileStorage

#: Bytes gathered in memory before one write+hash in a thread.
FLUSH_BYTES = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    """An upload published under the files root; ``path`` is relative to it (``uploads/<id>``)."""

    id: str
    path: str
    content_type: str
    kind: FileKind
    bytes: int
    sha256: str
    original_name: str | None


class Spool:
    """One upload in progress. Use as ``async with Spool(...) as spool``; call :meth:`publish` last."""

    def __init__(
        self, storage: FileStorage, *, max_bytes: int, rule: TypeRule, original_name: str | None = None
    ) -> None:
        self._storage = storage
        self._max = max_bytes
        self._rule = rule
        self._name = sanitise_name(original_name)
        self._id = new_file_id()
        self._tmp = storage.scratch_dir / f"{self._id}.part"
        self._fd: int | None = None
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._head = bytearray()
        self._size = 0
        self._sniffed: Sniffed | None = None

    async def __aenter__(self) -> Spool:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()  # after a successful publish the temp name is already gone: a no-op

    @property
    def size(self) -> int:
        """Bytes received so far."""
        return self._size

    async def write(self, chunk: bytes) -> None:
        """Accept the next bytes; raises 413 past ``max_bytes`` and 415/422 once the head is known bad."""
        if not chunk:
            return
        self._size += len(chunk)
        if self._size > self._max:
            raise too_large(self._max, field=self._rule.field)
        if self._sniffed is None:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._sniffed = self._rule.check(bytes(self._head))
        self._buffer += chunk
        if len(self._buffer) >= FLUSH_BYTES:
            await self._flush()

    async def publish(self) -> StoredFile:
        """Check the whole file, fsync it and publish it atomically as ``uploads/<id>``."""
        sniffed = self._sniffed or self._rule.check(bytes(self._head))
        await self._flush()
        await anyio.to_thread.run_sync(self._finish, sniffed)
        await self._storage.aput_file(
            upload_path(self._id),
            self._tmp,
            content_type=sniffed.content_type,
            download_name=self._name,
            move=True,
        )
        return StoredFile(
            id=self._id,
            path=upload_path(self._id),
            content_type=sniffed.content_type,
            kind=sniffed.kind,
            bytes=self._size,
            sha256=self._hash.hexdigest(),
            original_name=self._name,
        )

    def discard(self) -> None:
        """Close and delete the temp file (safe to call twice, never raises for a missing file)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)

    async def open(self) -> None:
        """Create the temp file in the storage's scratch directory (pair with :meth:`discard` if not using ``async with``)."""
        await anyio.to_thread.run_sync(self._open)

    def _open(self) -> None:
        self._tmp.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(
            self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644
        )

    async def _flush(self) -> None:
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            await anyio.to_thread.run_sync(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None, "spool used outside its context"
        self._hash.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _finish(self, sniffed: Sniffed) -> None:
        assert self._fd is not None, "spool used outside its context"
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        if sniffed.kind == "image":
            _check_image(self._tmp, sniffed, self._rule.field)


def _check_image(path: Path, sniffed: Sniffed, field: str | None) -> None:
    """Parse the image header with Pillow: catches forged magic bytes and decompression bombs."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Image.DecompressionBombError as exc:
        raise UploadError(
            422, "Image too large", f"The image has too many pixels: {exc}", field=field
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UploadError(
            422,
            "Corrupt file",
            f"The file starts like {sniffed.label} but cannot be read as one.",
            field=field,
        ) from exc
    if width <= 0 or height <= 0:
        raise UploadError(422, "Corrupt file", "The image has no pixels.", field=field)


async def store_stream(
    chunks: AsyncIterable[bytes],
    *,
    storage: FileStorage,
    max_bytes: int,
    expect_kind: FileKind | None = None,
    declared_type: str | None = None,
    accept: Collection[str] | None = None,
    original_name: str | None = None,
    field: str | None = None,
) -> StoredFile:
    """Stream ``chunks`` into ``uploads/<new id>`` of ``storage`` and describe the result.

    Raises :class:`UploadError`: 413 as soon as more than ``max_bytes`` arrive (reading stops there),
    415 for an unrecognised or unaccepted format, 422 for an empty, corrupt or mislabelled file. On
    any error nothing is stored and no temp file is left.
    """
    rule = TypeRule(expect_kind=expect_kind, declared_type=declared_type, accept=accept, field=field)
    async with Spool(storage, max_bytes=max_bytes, rule=rule, original_name=original_name) as spool:
        async for chunk in chunks:
            await spool.write(chunk)
        return await spool.publish()


async def delete_stored(storage: FileStorage, stored: StoredFile) -> None:
    """Remove a published upload (e.g. when the caller's database insert failed).

    Shielded from cancellation: it runs in ``except`` blocks, often because the request was cancelled.
    """
    with anyio.CancelScope(shield=True):
        await storage.adelete(stored.path)
