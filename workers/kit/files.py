"""File I/O against the shared files root: read input references safely, write outputs atomically.

Paths in a :class:`FileRef` are relative to the root. Anything that would land outside it (absolute paths,
``..``, symlinks pointing out) is refused with :class:`InvalidInput`, as are missing files and files whose
size or SHA-256 differ from the reference.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from workers.kit.contract import FileRef
from workers.kit.errors import InvalidInput

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


class FileStore:
    """The shared volume as seen by one worker process."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def resolve(self, relative: str) -> Path:
        """The absolute path of ``relative``, refusing anything that escapes the root."""
        pure = PurePosixPath(relative)
        if not relative or pure.is_absolute() or "\\" in relative or ".." in pure.parts:
            raise InvalidInput(f"file path {relative!r} must be relative to the files root, without '..'")
        path = (self.root / pure).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidInput(f"file path {relative!r} points outside the files root")
        return path

    def open_ref(self, value: Any, *, name: str, max_bytes: int) -> tuple[FileRef, Path]:
        """Validate an input file reference and check the file against it."""
        ref = parse_ref(value, name=name)
        path = self.resolve(ref.file)
        if not path.is_file():
            raise InvalidInput(f"input {name!r}: file {ref.file!r} does not exist")
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInput(f"input {name!r}: file is {size} bytes, the limit is {max_bytes}")
        if size != ref.bytes:
            raise InvalidInput(f"input {name!r}: file is {size} bytes but the reference says {ref.bytes}")
        if sha256_file(path) != ref.sha256:
            raise InvalidInput(f"input {name!r}: file content does not match its sha256")
        return ref, path

    def writer(self, job_id: str, step_id: str) -> OutputWriter:
        """A writer for ``jobs/<job_id>/<step_id>/``."""
        for label, value in (("job_id", job_id), ("step_id", step_id)):
            if not _SEGMENT.match(value) or value in (".", ".."):
                raise InvalidInput(f"{label} {value!r} may only use letters, digits, '.', '_' and '-'")
        return OutputWriter(self, f"jobs/{job_id}/{step_id}")


@dataclass
class OutputWriter:
    """Writes one step's outputs atomically and returns their references."""

    store: FileStore
    prefix: str

    def write(self, name: str, data: bytes, content_type: str) -> FileRef:
        """Write ``data`` to ``<prefix>/<name>.<ext>`` (temp file + fsync + rename) and return its FileRef."""
        ext = EXTENSIONS.get(content_type, "bin")
        relative = f"{self.prefix}/{name}.{ext}"
        target = self.store.resolve(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o644)  # mkstemp makes 0600; the gateway must read it too
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return FileRef(
            file=relative, content_type=content_type, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
        )


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
