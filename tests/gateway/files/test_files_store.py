"""store_stream: streamed, hashed, sniffed, atomically published — or refused leaving nothing behind; on a
directory and on a bucket of a real S3 server alike (the ``storage`` fixture)."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest

from gateway.files import UploadError, store_stream
from gateway.files.errors import human_bytes
from gateway.files.spool import FLUSH_BYTES
from workers.kit.storage import FileStorage

pytestmark = pytest.mark.anyio


async def chunked(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def from_list(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 10**9])
async def test_stores_a_png_whatever_the_chunking(
    storage: FileStorage,
    sample: Callable[[str], bytes],
    stored_bytes: Callable[[str], bytes],
    leftovers: Callable[[], list[str]],
    chunk_size: int,
) -> None:
    data = sample("png")
    stored = await store_stream(
        chunked(data, chunk_size), storage=storage, max_bytes=10_000, expect_kind="image"
    )
    assert re.fullmatch(r"[0-9a-f]{32}", stored.id)
    assert stored.path == f"uploads/{stored.id}"
    assert stored_bytes(stored.path) == data
    assert (stored.kind, stored.content_type, stored.bytes) == ("image", "image/png", len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert leftovers() == [stored.path]  # no temp file left


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("jpeg", "image/jpeg"),
        ("webp", "image/webp"),
        ("gif", "image/gif"),
        ("mp3-id3", "audio/mpeg"),
        ("flac", "audio/flac"),
        ("ogg", "audio/ogg"),
        ("webm", "audio/webm"),
        ("mka", "audio/x-matroska"),
        ("m4a", "audio/mp4"),
    ],
)
async def test_every_supported_format_is_stored_with_its_sniffed_type(
    storage: FileStorage,
    sample: Callable[[str], bytes],
    stored_bytes: Callable[[str], bytes],
    name: str,
    content_type: str,
) -> None:
    stored = await store_stream(chunked(sample(name)), storage=storage, max_bytes=10**6)
    assert stored.content_type == content_type
    assert stored_bytes(stored.path) == sample(name)


async def test_large_audio_is_written_in_several_flushes_with_the_right_hash(
    storage: FileStorage, make_wav: Callable[..., bytes], stored_bytes: Callable[[str], bytes]
) -> None:
    data = make_wav(seconds=3 * FLUSH_BYTES / 32000)  # ~3 MB at 16-bit 16 kHz
    assert len(data) > 2 * FLUSH_BYTES
    stored = await store_stream(
        chunked(data, 65536), storage=storage, max_bytes=len(data), expect_kind="audio"
    )
    assert stored.bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert storage.stat(stored.path).size == len(data)  # type: ignore[union-attr]
    assert hashlib.sha256(stored_bytes(stored.path)).hexdigest() == stored.sha256


async def test_ids_are_fresh_and_the_client_name_is_only_sanitised_metadata(
    storage: FileStorage, sample: Callable[[str], bytes]
) -> None:
    data = sample("wav")
    first = await store_stream(
        chunked(data), storage=storage, max_bytes=10**6, original_name="../../etc/pass\x00wd.wav"
    )
    second = await store_stream(chunked(data), storage=storage, max_bytes=10**6, original_name="C:\\x\\a.wav")
    assert first.id != second.id
    assert (first.original_name, second.original_name) == ("passwd.wav", "a.wav")
    assert sorted(storage.list_keys("uploads")) == sorted([first.path, second.path])


@pytest.mark.parametrize(
    ("declared", "accept"),
    [
        ("audio/wav", None),
        ("audio/x-wav; codecs=1", None),
        ("audio/mpeg", None),  # same kind, other subtype: tolerated
        ("application/octet-stream", None),
        (None, ["wav"]),
        (None, ["audio/*"]),
        (None, ["audio/wave", "audio/mpeg"]),
    ],
)
async def test_accepts_compatible_labels(
    storage: FileStorage, sample: Callable[[str], bytes], declared: str | None, accept: list[str] | None
) -> None:
    stored = await store_stream(
        chunked(sample("wav")),
        storage=storage,
        max_bytes=10**6,
        expect_kind="audio",
        declared_type=declared,
        accept=accept,
    )
    assert stored.content_type == "audio/wav"


REFUSALS = [
    pytest.param(
        "png",
        {"expect_kind": "audio", "field": "audio"},
        415,
        "Field 'audio' expects audio (wav, mp3, flac, ogg, opus, webm, mka, m4a) but the file is a PNG image.",
        id="png-as-audio",
    ),
    pytest.param(
        "wav",
        {"expect_kind": "image"},
        415,
        "This upload expects image (png, jpg, webp, gif) but the file is a WAV audio file.",
        id="wav-as-image",
    ),
    pytest.param(
        "mp3",
        {"accept": ["wav", "flac"], "field": "speech"},
        415,
        "Field 'speech' accepts flac, wav but the file is an MP3 audio file.",
        id="outside-accept",
    ),
    pytest.param(
        "wav",
        {"declared_type": "image/png", "field": "audio"},
        422,
        "The file in field 'audio' was declared as 'image/png' but the file is a WAV audio file.",
        id="declared-type-contradicted",
    ),
    pytest.param("pdf", {}, 415, "the file is a PDF document", id="pdf"),
    pytest.param("text", {"expect_kind": "audio"}, 415, "expects audio (wav, mp3", id="text"),
    pytest.param("empty", {}, 422, "The uploaded file is empty.", id="empty"),
    pytest.param(
        "forged-png", {}, 422, "starts like a PNG image but cannot be read as one", id="corrupt-png"
    ),
]


def png_claiming(width: int, height: int) -> bytes:
    """A PNG signature and a valid IHDR chunk claiming ``width`` by ``height`` pixels, and nothing else."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


OTHER = {
    "bomb-png": png_claiming(30_000, 30_000),
    "pdf": b"%PDF-1.7\n" + b"0" * 100,
    "text": b"just some words\n" * 20,
    "empty": b"",
    "forged-png": b"\x89PNG\r\n\x1a\n" + b"garbage!" * 50,
}


@pytest.mark.parametrize(("name", "kwargs", "status", "message"), REFUSALS)
async def test_refusals_are_clear_and_leave_nothing(
    storage: FileStorage,
    sample: Callable[[str], bytes],
    leftovers: Callable[[], list[str]],
    name: str,
    kwargs: dict[str, Any],
    status: int,
    message: str,
) -> None:
    data = OTHER[name] if name in OTHER else sample(name)
    with pytest.raises(UploadError) as caught:
        await store_stream(chunked(data), storage=storage, max_bytes=10**6, **kwargs)
    assert caught.value.status == status
    assert message in caught.value.detail
    assert caught.value.field == kwargs.get("field")
    assert caught.value.problem()["status"] == status
    assert leftovers() == []


async def test_oversize_is_413_stops_reading_and_leaves_nothing(
    storage: FileStorage, sample: Callable[[str], bytes], leftovers: Callable[[], list[str]]
) -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield sample("wav")
        while True:
            pulled += 1
            yield b"\x00" * 65536

    with pytest.raises(UploadError) as caught:
        await store_stream(endless(), storage=storage, max_bytes=5 * FLUSH_BYTES, field="audio")
    assert caught.value.status == 413
    assert (
        caught.value.detail
        == f"The file in field 'audio' exceeds the limit of {5 * FLUSH_BYTES} bytes ({human_bytes(5 * FLUSH_BYTES)})."
    )
    assert pulled == 5 * FLUSH_BYTES // 65536  # the chunk that crossed the limit was the last one read
    assert leftovers() == []


async def test_exactly_max_bytes_is_accepted(storage: FileStorage, sample: Callable[[str], bytes]) -> None:
    data = sample("flac")
    stored = await store_stream(chunked(data), storage=storage, max_bytes=len(data))
    assert stored.bytes == len(data)


async def test_a_wrong_type_is_refused_before_the_rest_is_read(
    storage: FileStorage, sample: Callable[[str], bytes], leftovers: Callable[[], list[str]]
) -> None:
    async def png_then_endless() -> AsyncIterator[bytes]:
        yield sample("png") + b"\x00" * 10_000
        raise AssertionError("read past the sniffed head")

    with pytest.raises(UploadError) as caught:
        await store_stream(png_then_endless(), storage=storage, max_bytes=10**9, expect_kind="audio")
    assert caught.value.status == 415
    assert leftovers() == []


async def test_a_source_failing_midway_leaves_nothing(
    storage: FileStorage, sample: Callable[[str], bytes], leftovers: Callable[[], list[str]]
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield sample("wav")
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store_stream(broken(), storage=storage, max_bytes=10**6)
    assert leftovers() == []
