"""File I/O of a worker, over the one storage interface (:mod:`workers.kit.storage`): a directory or a bucket.

Paths in a :class:`FileRef` are keys relative to the files root. Anything that would land outside it
(absolute paths, ``..``, symlinks pointing out) is refused with :class:`InvalidInput`, as are missing files
and files whose size or SHA-256 differ from the reference. A run sees its inputs as local paths (the file
itself on a directory; a copy streamed into a per-run scratch directory from object storage, removed when
the run ends) and writes its outputs through :class:`OutputWriter` (temp file + fsync + rename on a
directory; one PUT, multipart when large, on object storage).

Storage failures are translated here, in :func:`storage_errors`: a missing file is the caller's mistake
(422), refused credentials or a missing bucket are this worker's configuration (503, not retryable), any
other storage failure may pass (503, retryable).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from workers.kit.contract import FileRef
from workers.kit.errors import InvalidInput, Misconfigured, UpstreamUnavailable
from workers.kit.storage import (
    DirectoryStorage,
    FetchTooLarge,
    FileStorage,
    InvalidKey,
    ObjectNotFound,
    StorageAuthError,
    StorageConfigError,
    StorageError,
    check_key,
)

#: Job and step ids become directory names, so they are held to a safe alphabet.
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1024 * 1024

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "audio/wav": "wav",
    "audio/flac": "flac",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "audio/mp4": "m4a",
    "text/plain": "txt",
}


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Storage errors as the kit's contract errors; ``what`` names the file for the message."""
    try:
        yield
    except ObjectNotFound:
        raise InvalidInput(f"{what} does not exist") from None
    except InvalidKey as exc:
        raise InvalidInput(exc.detail) from None
    except (StorageAuthError, StorageConfigError) as exc:
        raise Misconfigured(exc.detail) from exc
    except StorageError as exc:
        raise UpstreamUnavailable(exc.detail, status=503) from exc


class FileStore:
    """The files root as seen by one worker process."""

    def __init__(self, storage: FileStorage | Path) -> None:
        self.storage = storage if isinstance(storage, FileStorage) else DirectoryStorage(Path(storage))

    def resolve(self, relative: str) -> Path:
        """The local path of ``relative`` on a directory store, refusing anything that escapes the root."""
        key = self.key(relative)
        with storage_errors(f"file path {relative!r}"):
            path = self.storage.local_path(key)
        if path is None:
            raise Misconfigured("the files root is object storage: files have no local path")
        return path

    @staticmethod
    def key(relative: str) -> str:
        """``relative`` checked as a key, or :class:`InvalidInput`."""
        try:
            return check_key(relative)
        except InvalidKey:
            raise InvalidInput(
                f"file path {relative!r} must be relative to the files root, without '..'"
            ) from None

    def open_ref(
        self, value: Any, *, name: str, max_bytes: int, scratch: Path | None = None
    ) -> tuple[FileRef, Path]:
        """Validate an input file reference, check the file against it and return a local path to read.

        From object storage the file is streamed into ``scratch`` (default: the store's scratch directory),
        refused past ``max_bytes`` and hashed on the way; the caller removes the copy.
        """
        ref = parse_ref(value, name=name)
        key = self.key(ref.file)
        what = f"input {name!r}: file {ref.file!r}"
        with storage_errors(what):
            local = self.storage.local_path(key)
            if local is not None and local.is_file():
                return ref, self._check_local(ref, local, name=name, max_bytes=max_bytes)
            info = self.storage.stat(key)
            if info is None:
                raise ObjectNotFound(key)
            _check_size(ref, info.size, name=name, max_bytes=max_bytes)
            where = scratch or self.storage.scratch_dir
            where.mkdir(parents=True, exist_ok=True)
            dest = Path(tempfile.mkstemp(dir=where, prefix=f"{name}-", suffix=Path(key).suffix)[1])
            try:
                fetched = self.storage.fetch(key, dest, max_bytes=max_bytes)
            except FetchTooLarge as exc:
                raise InvalidInput(f"input {name!r}: file is over {max_bytes} bytes (the limit)") from exc
        _check_size(ref, fetched.size, name=name, max_bytes=max_bytes)
        if fetched.sha256 != ref.sha256:
            dest.unlink(missing_ok=True)
            raise InvalidInput(f"input {name!r}: file content does not match its sha256")
        return ref, dest

    @staticmethod
    def _check_local(ref: FileRef, path: Path, *, name: str, max_bytes: int) -> Path:
        _check_size(ref, path.stat().st_size, name=name, max_bytes=max_bytes)
        if sha256_file(path) != ref.sha256:
            raise InvalidInput(f"input {name!r}: file content does not match its sha256")
        return path

    def writer(self, job_id: str, step_id: str) -> OutputWriter:
        """A writer for ``jobs/<job_id>/<step_id>/``."""
        for label, value in (("job_id", job_id), ("step_id", step_id)):
            if not _SEGMENT.match(value) or value in (".", ".."):
                raise InvalidInput(f"{label} {value!r} may only use letters, digits, '.', '_' and '-'")
        return OutputWriter(self.storage, f"jobs/{job_id}/{step_id}")

    @contextlib.contextmanager
    def run(self, job_id: str, step_id: str) -> Iterator[RunFiles]:
        """The files of one run: its output writer, and its inputs' local copies removed when it ends."""
        files = RunFiles(self, self.writer(job_id, step_id))
        try:
            yield files
        finally:
            files.close()


@dataclass
class RunFiles:
    """One run's view of the files: ``open_ref`` for inputs, ``outputs`` for what it makes."""

    store: FileStore
    outputs: OutputWriter
    _scratch: Path | None = field(default=None, repr=False)

    def open_ref(self, value: Any, *, name: str, max_bytes: int) -> tuple[FileRef, Path]:
        """Like :meth:`FileStore.open_ref`; copies from object storage go to this run's scratch directory."""
        if self._scratch is None and not self.store.storage.has_local_paths:
            self.store.storage.scratch_dir.mkdir(parents=True, exist_ok=True)
            self._scratch = Path(tempfile.mkdtemp(prefix="run-", dir=self.store.storage.scratch_dir))
        return self.store.open_ref(value, name=name, max_bytes=max_bytes, scratch=self._scratch)

    def close(self) -> None:
        """Remove the local copies of this run's inputs."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


@dataclass
class OutputWriter:
    """Writes one step's outputs atomically under ``<prefix>/`` and returns their references."""

    storage: FileStorage
    prefix: str

    def _key(self, name: str, content_type: str) -> str:
        return f"{self.prefix}/{name}.{EXTENSIONS.get(content_type, 'bin')}"

    def write(self, name: str, data: bytes, content_type: str) -> FileRef:
        """Store ``data`` as ``<prefix>/<name>.<ext>`` and return its FileRef."""
        key = self._key(name, content_type)
        with storage_errors(f"output {name!r}"):
            self.storage.put_bytes(key, data, content_type=content_type)
        return FileRef(
            file=key, content_type=content_type, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
        )

    def write_file(self, name: str, source: Path, content_type: str, *, move: bool = False) -> FileRef:
        """Store the local file ``source`` (streamed, never read whole) and return its FileRef.

        For outputs made on disk (an encoder's output file); ``move=True`` hands the file over.
        """
        key = self._key(name, content_type)
        size, digest = source.stat().st_size, sha256_file(source)
        with storage_errors(f"output {name!r}"):
            self.storage.put_file(key, source, content_type=content_type, move=move)
        return FileRef(file=key, content_type=content_type, bytes=size, sha256=digest)


def _check_size(ref: FileRef, size: int, *, name: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise InvalidInput(f"input {name!r}: file is {size} bytes, the limit is {max_bytes}")
    if size != ref.bytes:
        raise InvalidInput(f"input {name!r}: file is {size} bytes but the reference says {ref.bytes}")


def parse_ref(value: Any, *, name: str) -> FileRef:
    """``value`` as a FileRef, or InvalidInput saying what is wrong with it."""
    if isinstance(value, FileRef):
        return value
    if not isinstance(value, dict):
        raise InvalidInput(
            f"input {name!r} must be a file reference {{file, content_type, bytes, sha256}}, "
            f"not {type(value).__name__}"
        )
    try:
        return FileRef.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"input {name!r} is not a valid file reference: {problems}") from exc


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
