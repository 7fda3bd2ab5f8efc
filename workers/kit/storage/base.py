"""The one storage interface the gateway and every worker use for file bytes.

A :class:`FileStorage` maps keys (paths relative to the files root, :mod:`~workers.kit.storage.keys`) to
bytes. It has a blocking face for the workers (their backends run in threads) and an asyncio face for the
gateway; a backend implements the blocking one and may override the async one with native calls (the
S3 backend does; the default runs the blocking call in a worker thread). Reads are streamed in chunks,
writes take a local file (streamed or multipart-uploaded by the backend) or bytes the caller already
holds, so no caller needs a large file in memory.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import anyio.to_thread

#: Bytes per chunk of a streamed read.
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows of one stored file without reading it."""

    key: str
    size: int
    modified: datetime | None = None  # last write, UTC, where the store says (listings do)


@dataclass(frozen=True)
class Fetched:
    """A stored file copied to a local path, with its size and SHA-256 as read."""

    path: Path
    size: int
    sha256: str


class FileStorage(ABC):
    """Keys to bytes. Every method raises only :mod:`~workers.kit.storage.errors` errors."""

    #: ``directory`` or ``s3`` (for ``/readyz`` and logs).
    kind: ClassVar[str]
    #: True when :meth:`local_path` gives every file's own path (no copy is needed to read one).
    has_local_paths: ClassVar[bool] = False

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the bytes live, for logs (``/data/files``, ``s3://bucket/prefix``); never a credential."""

    @property
    @abstractmethod
    def scratch_dir(self) -> Path:
        """A local directory for temporary files that :meth:`put_file` with ``move=True`` consumes cheaply."""

    # -- blocking face (workers, threads) ------------------------------------------------------------------

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size of the file at ``key``, or None when there is none."""

    def exists(self, key: str) -> bool:
        """True when a file is stored at ``key``."""
        return self.stat(key) is not None

    @abstractmethod
    def read_chunks(self, key: str, *, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The bytes ``start .. start+length-1`` (to the end when ``length`` is None), in chunks.

        The file is opened (or the GET sent) before this returns, so a missing file raises
        :class:`~workers.kit.storage.errors.ObjectNotFound` here, not in the middle of the iteration.
        """

    @abstractmethod
    def put_file(
        self,
        key: str,
        source: Path,
        *,
        content_type: str,
        download_name: str | None = None,
        move: bool = False,
    ) -> None:
        """Store the local file ``source`` at ``key`` atomically (readers see the old file or the whole new one).

        ``move=True`` hands ``source`` over: it is renamed into place when it can be, else deleted after the
        copy. ``download_name`` is kept as the object's ``Content-Disposition`` where the store has one.
        """

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` at ``key`` atomically."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the file at ``key``; a missing file is not an error."""

    @abstractmethod
    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix/`` (recursively), in no particular order."""

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every file under ``prefix/`` with its size and last write time (a janitor's listing)."""
        for key in self.list_keys(prefix):
            info = self.stat(key)
            if info is not None:
                yield info

    def delete_prefix(self, prefix: str) -> int:
        """Remove every file under ``prefix/`` (e.g. ``jobs/<id>``); returns how many were removed."""
        removed = 0
        for key in list(self.list_keys(prefix)):
            self.delete(key)
            removed += 1
        return removed

    @abstractmethod
    def check(self) -> None:
        """Raise a storage error when the store cannot be used (root not writable, credentials refused)."""

    def local_path(self, key: str) -> Path | None:
        """The file's own path when the store is a local directory (no copy needed), else None."""
        return None

    def presign_get(self, key: str, *, seconds: int) -> str | None:
        """A URL that fetches the object without credentials for ``seconds``, or None when the store has none.

        Hand it out only after the caller's access to the file was checked.
        """
        return None

    def fetch(self, key: str, dest: Path, *, max_bytes: int | None = None) -> Fetched:
        """Copy the file at ``key`` to the local path ``dest`` chunk by chunk, hashing as it goes.

        Stops (and removes ``dest``) once more than ``max_bytes`` arrived.
        """
        digest, size = hashlib.sha256(), 0
        chunks = self.read_chunks(key)
        try:
            with dest.open("wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise FetchTooLarge(size)
                    digest.update(chunk)
                    handle.write(chunk)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return Fetched(path=dest, size=size, sha256=digest.hexdigest())

    # -- asyncio face (gateway) ----------------------------------------------------------------------------

    async def astat(self, key: str) -> ObjectInfo | None:
        return await anyio.to_thread.run_sync(self.stat, key)

    async def aread_chunks(
        self, key: str, *, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Like :meth:`read_chunks`: the file is opened before this returns, then read chunk by chunk."""
        chunks = await anyio.to_thread.run_sync(lambda: self.read_chunks(key, start=start, length=length))
        return _in_threads(chunks)

    async def aput_file(
        self,
        key: str,
        source: Path,
        *,
        content_type: str,
        download_name: str | None = None,
        move: bool = False,
    ) -> None:
        await anyio.to_thread.run_sync(
            lambda: self.put_file(
                key, source, content_type=content_type, download_name=download_name, move=move
            )
        )

    async def adelete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self.delete, key)

    async def adelete_prefix(self, prefix: str) -> int:
        return await anyio.to_thread.run_sync(self.delete_prefix, prefix)

    async def alist_objects(self, prefix: str) -> list[ObjectInfo]:
        """:meth:`list_objects`, collected in a worker thread."""
        return await anyio.to_thread.run_sync(lambda: list(self.list_objects(prefix)))

    async def acheck(self) -> None:
        await anyio.to_thread.run_sync(self.check)


class FetchTooLarge(Exception):
    """:meth:`FileStorage.fetch` read past its ``max_bytes`` (``size`` = bytes seen when it stopped)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"stopped after {size} bytes")
        self.size = size


_DONE = object()


async def _in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Drive a blocking chunk iterator from asyncio, one chunk per thread hop."""
    try:
        while (chunk := await anyio.to_thread.run_sync(next, chunks, _DONE)) is not _DONE:
            yield chunk  # type: ignore[misc]
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some filesystems refuse to fsync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
