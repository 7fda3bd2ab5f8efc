"""Shared fixtures for gateway.files tests: the storage (a directory, and a bucket on a real moto S3 server:
every storage test runs on both), and real sample files of every format."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from workers.kit.storage import DirectoryStorage, FileStorage
from workers.kit.testing import wav_bytes

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def files_root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    return root


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def leftovers(storage: FileStorage, files_root: Path) -> Callable[[], list[str]]:
    """``leftovers()`` → every stored file and every temp file left behind (uploads and temp files alike)."""

    def found() -> list[str]:
        if isinstance(storage, DirectoryStorage):
            return _files_under(files_root)
        objects = [*storage.list_keys("uploads"), *storage.list_keys("jobs")]
        return sorted(objects) + [f"scratch:{name}" for name in _files_under(storage.scratch_dir)]

    return found


@pytest.fixture
def stored_bytes(storage: FileStorage) -> Callable[[str], bytes]:
    """``stored_bytes(key)`` → the whole stored file, read back through the storage."""
    return lambda key: b"".join(storage.read_chunks(key))


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6)) -> bytes:
    """A real image encoded by Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(buffer, format=fmt)
    return buffer.getvalue()


def id3_tag(payload: bytes = b"TIT2\x00\x00\x00\x06\x00\x00\x03tone\x00") -> bytes:
    """An ID3v2.4 tag (10-byte header + frames) with its size as a synchsafe integer."""
    n = len(payload)
    synchsafe = bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])
    return b"ID3\x04\x00\x00" + synchsafe + payload


def m4a_head() -> bytes:
    """An ``ftyp`` box with major brand ``M4A `` followed by an empty ``mdat`` box (ISO/IEC 14496-12)."""
    ftyp_body = b"M4A " + struct.pack(">I", 0) + b"M4A isommp42"
    return struct.pack(">I", 8 + len(ftyp_body)) + b"ftyp" + ftyp_body + struct.pack(">I", 8) + b"mdat"


SAMPLES: dict[str, Callable[[], bytes]] = {
    "png": lambda: image_bytes("PNG"),
    "jpeg": lambda: image_bytes("JPEG"),
    "webp": lambda: image_bytes("WEBP"),
    "gif": lambda: image_bytes("GIF"),
    "wav": lambda: wav_bytes(0.1),
    "mp3": lambda: (FIXTURES / "tone.mp3").read_bytes(),
    "mp3-id3": lambda: id3_tag() + (FIXTURES / "tone.mp3").read_bytes(),
    "flac": lambda: (FIXTURES / "tone.flac").read_bytes(),
    "ogg": lambda: (FIXTURES / "tone.ogg").read_bytes(),
    "opus": lambda: (FIXTURES / "tone.opus").read_bytes(),
    "webm": lambda: (FIXTURES / "tone.webm").read_bytes(),
    "mka": lambda: (FIXTURES / "tone.mka").read_bytes(),
    "m4a": m4a_head,
}


@pytest.fixture
def sample() -> Callable[[str], bytes]:
    """``sample("png")`` → the bytes of a real file of that format."""
    return lambda name: SAMPLES[name]()


@pytest.fixture
def make_wav() -> Callable[..., bytes]:
    """``make_wav(seconds=…)`` → a real WAV of that length."""
    return wav_bytes
