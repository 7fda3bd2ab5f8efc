"""Helpers for tests of workers and of their callers: put files on a files root, make tiny media."""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
import tempfile
import wave
from pathlib import Path
from typing import Any

from PIL import Image

from workers.kit.storage import FileStorage


def put_file(root: Path | FileStorage, relative: str, data: bytes, content_type: str) -> dict[str, Any]:
    """Write ``data`` under ``root`` (a directory, or any storage) and return its FileRef as JSON, as the
    gateway would send it.

    Like the gateway, it writes a temporary file and renames it into place, so a worker reading the same
    path meanwhile sees the old file or the new one, never a half-written one.
    """
    ref = {
        "file": relative,
        "content_type": content_type,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if isinstance(root, FileStorage):
        root.put_bytes(relative, data, content_type=content_type)
        return ref
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ref


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A small PNG with a two-colour pattern (so a transformation visibly changes it)."""
    image = Image.new("RGB", (width, height), color)
    for x in range(0, width, 8):
        for y in range(0, height, 8):
            if (x + y) // 8 % 2:
                image.putpixel((x, y), (20, 20, 220))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes(seconds: float = 0.5, rate: int = 16_000, frequency: float = 440.0) -> bytes:
    """A mono 16-bit PCM WAV tone."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return buffer.getvalue()
