"""Downloading files: streamed to disk in chunks, checked against the gateway's SHA-256, then renamed
into place (an interrupted download never leaves a half file under the final name)."""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, BinaryIO

from modaline_cli.client import Client
from modaline_cli.errors import CliError, ExitCode

CHUNK = 256 * 1024

#: Extensions for the media types the gateway stores (``mimetypes`` lacks or disagrees on some).
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/webm": ".webm",
    "text/plain": ".txt",
    "application/json": ".json",
}


def extension_for(content_type: str) -> str:
    """``image/png`` → ``.png``; an unknown type → ``.bin``."""
    bare = content_type.split(";")[0].strip().lower()
    return EXTENSIONS.get(bare) or mimetypes.guess_extension(bare) or ".bin"


def is_file(value: Any) -> bool:
    """Whether an output value is a file as the API shows it (FilePublic)."""
    return isinstance(value, dict) and isinstance(value.get("id"), str) and "content_type" in value


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name a hostile server cannot use to escape the directory: the last path part, plain
    characters only, never hidden, never empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[:200]
    return cleaned or "download"


def name_from_disposition(header: str | None) -> str | None:
    """The ``filename`` of a ``Content-Disposition`` header (RFC 6266, ``filename*`` first), made safe."""
    if not header:
        return None
    message = Message()
    message["content-disposition"] = header
    name = message.get_filename()
    return safe_name(name) if name else None


@dataclass(frozen=True)
class Saved:
    path: str  # "-" for standard output
    bytes: int
    content_type: str
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "bytes": self.bytes,
            "content_type": self.content_type,
            "sha256": self.sha256,
        }


def download(client: Client, file_id: str, target: Path | None, *, directory: Path | None = None) -> Saved:
    """Stream file ``file_id`` to ``target`` (``-``: standard output). Without a target, into
    ``directory`` (default: the current one) under the name the gateway gives (an upload's own name) or
    ``<id><ext>``. The bytes are checked against the file's SHA-256 (the gateway's ETag)."""
    with client.download(file_id) as response:
        content_type = response.headers.get("content-type", "application/octet-stream")
        expected = response.headers.get("etag", "").strip('"').lower() or None
        if target is None:
            name = name_from_disposition(response.headers.get("content-disposition"))
            target = (directory or Path.cwd()) / (
                name or f"{safe_name(file_id)}{extension_for(content_type)}"
            )
        chunks = response.iter_bytes(CHUNK)
        if str(target) == "-":
            size, digest = _copy(chunks, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            size, digest = _write_atomically(chunks, target)
    if expected and len(expected) == 64 and digest != expected:
        if str(target) != "-":
            target.unlink(missing_ok=True)
        raise CliError(
            f"file {file_id} arrived damaged (SHA-256 {digest}, the gateway says {expected}); try again",
            code=ExitCode.GATEWAY,
        )
    return Saved(str(target), size, content_type.split(";")[0].strip(), digest)


def _copy(chunks: Iterator[bytes], sink: BinaryIO) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        sink.write(chunk)
    return size, digest.hexdigest()


def _write_atomically(chunks: Iterator[bytes], target: Path) -> tuple[int, str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as sink:
            result = _copy(chunks, sink)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return result


def save_outputs(client: Client, outputs: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Every output of a job into ``directory``: files as ``<output><ext>`` (a list's items as
    ``<output>-<n><ext>``), text as ``<output>.txt``, anything else as ``<output>.json``. Answers, per
    output, the path (or list of paths) written."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    saved: dict[str, Any] = {}
    for name, value in outputs.items():
        stem = safe_name(name)
        if is_file(value):
            target = directory / f"{stem}{extension_for(str(value['content_type']))}"
            saved[name] = download(client, value["id"], target).path
        elif isinstance(value, list) and value and all(is_file(item) for item in value):
            saved[name] = [
                download(
                    client, item["id"], directory / f"{stem}-{i}{extension_for(str(item['content_type']))}"
                ).path
                for i, item in enumerate(value, start=1)
            ]
        elif isinstance(value, str):
            path = directory / f"{stem}.txt"
            path.write_text(value if value.endswith("\n") else value + "\n", encoding="utf-8")
            saved[name] = str(path)
        elif value is not None:
            path = directory / f"{stem}.json"
            path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
            saved[name] = str(path)
    return saved
