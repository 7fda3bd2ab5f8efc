"""The files root as a local (or shared: NFS, EFS, CephFS) directory: the embedded default.

Writes are a temporary file in the target's directory, fsync, then ``os.replace``, so a reader never sees
half a file; a file made in :attr:`scratch_dir` (``<root>/.tmp``, the same filesystem) is published with one
rename. Keys resolve under the root and are refused when they would leave it, symlinks included.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import anyio

from workers.kit.storage.base import CHUNK_BYTES, FileStorage, ObjectInfo, fsync_dir
from workers.kit.storage.errors import InvalidKey, ObjectNotFound, StorageConfigError
from workers.kit.storage.keys import check_key, check_prefix

#: Temporary files (uploads being received) live here, under the root, so publishing is a rename.
TMP_DIR = ".tmp"


class DirectoryStorage(FileStorage):
    """Files under ``root``."""

    kind = "directory"
    has_local_paths = True

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def scratch_dir(self) -> Path:
        return self.root / TMP_DIR

    def path_of(self, key: str) -> Path:
        """The resolved absolute path of ``key``; :class:`InvalidKey` when it escapes the root."""
        relative = check_key(key)
        root = self.root.resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root) or target == root:
            raise InvalidKey(
                f"file path {key!r} escapes the files root: a symlink on the way points outside the files root"
            )
        return target

    def local_path(self, key: str) -> Path:
        return self.path_of(key)

    # -- reads ---------------------------------------------------------------------------------------------

    def stat(self, key: str) -> ObjectInfo | None:
        path = self.path_of(key)
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ObjectInfo(key=check_key(key), size=info.st_size) if path.is_file() else None

    def read_chunks(self, key: str, *, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        path = self.path_of(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        return _chunks(handle, start, length)

    async def aread_chunks(
        self, key: str, *, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            handle = await anyio.open_file(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        return _achunks(handle, start, length)

    def list_keys(self, prefix: str) -> Iterator[str]:
        base = self.path_of(check_prefix(prefix))
        root = self.root.resolve()
        if not base.is_dir():
            return
        for folder, _dirs, files in os.walk(base):
            for name in files:
                if not _is_temporary(name):
                    yield (Path(folder) / name).relative_to(root).as_posix()

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        root = self.root.resolve()
        for key in self.list_keys(prefix):
            try:
                info = (root / key).stat()
            except (FileNotFoundError, NotADirectoryError):
                continue  # deleted since it was listed
            modified = datetime.fromtimestamp(info.st_mtime, UTC)
            yield ObjectInfo(key=key, size=info.st_size, modified=modified)

    # -- writes --------------------------------------------------------------------------------------------

    def put_file(
        self,
        key: str,
        source: Path,
        *,
        content_type: str,
        download_name: str | None = None,
        move: bool = False,
    ) -> None:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                os.chmod(source, 0o644)
                os.replace(source, target)  # the caller fsynced it; same filesystem when made in scratch_dir
            except OSError:
                pass  # another filesystem (EXDEV): copy below, then remove the source
            else:
                fsync_dir(target.parent)
                return
        with source.open("rb") as handle:
            self._write_atomically(target, lambda out: shutil.copyfileobj(handle, out, CHUNK_BYTES * 4))
        if move:
            source.unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._write_atomically(target, lambda out: out.write(data))

    @staticmethod
    def _write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o644)  # mkstemp makes 0600; the other processes must read it
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def delete(self, key: str) -> None:
        path = self.path_of(key)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            raise InvalidKey(f"file path {key!r} names a directory") from None

    def delete_prefix(self, prefix: str) -> int:
        removed = sum(1 for _ in self.list_keys(prefix))
        base = self.path_of(check_prefix(prefix))
        if base.is_dir():
            shutil.rmtree(base)
        return removed

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageConfigError(f"the files root cannot be created: {exc.strerror}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageConfigError("the files root is not writable by this process")


def _is_temporary(name: str) -> bool:
    """Half-written files: ``.<name>.<random>.tmp`` from :meth:`DirectoryStorage._write_atomically`."""
    return name.startswith(".") and name.endswith(".tmp")


def _chunks(handle: BinaryIO, start: int, length: int | None) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            chunk = handle.read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
            if not chunk:
                break  # the file shrank under us; the reader sees a short body
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


async def _achunks(handle: anyio.AsyncFile[bytes], start: int, length: int | None) -> AsyncIterator[bytes]:
    async with handle:
        await handle.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            chunk = await handle.read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
