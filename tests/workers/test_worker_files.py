"""Shared-volume I/O and media checks of the kit: safe paths, atomic writes, images and audio refused early."""

from __future__ import annotations

import io
import os
import struct
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from workers.kit.errors import InvalidInput
from workers.kit.files import FileStore
from workers.kit.media import load_image, probe_audio, sniff_audio
from workers.kit.testing import png_bytes, put_file, wav_bytes


def test_writes_land_atomically_under_jobs_job_step(files_root: Path) -> None:
    store = FileStore(files_root)
    ref = store.writer("job-1", "draw").write("image", png_bytes(), "image/png")
    assert ref.file == "jobs/job-1/draw/image.png"
    assert (files_root / ref.file).read_bytes() == png_bytes()
    assert oct((files_root / ref.file).stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in (files_root / "jobs/job-1/draw").iterdir()] == ["image.png"]  # no temp left


def test_a_rewrite_replaces_the_whole_file(files_root: Path) -> None:
    writer = FileStore(files_root).writer("j", "s")
    writer.write("audio", wav_bytes(1.0), "audio/wav")
    ref = writer.write("audio", b"RIFF", "audio/wav")
    assert (files_root / ref.file).read_bytes() == b"RIFF"
    assert ref.bytes == 4


def test_a_failed_write_leaves_no_partial_file(files_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = FileStore(files_root).writer("j", "s")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        writer.write("image", png_bytes(), "image/png")
    assert list((files_root / "jobs/j/s").iterdir()) == []


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "", "a\\..\\x"])
def test_paths_escaping_the_root_are_refused(files_root: Path, path: str) -> None:
    with pytest.raises(InvalidInput, match="relative to the files root"):
        FileStore(files_root).resolve(path)


def test_symlinks_out_of_the_root_are_refused(files_root: Path) -> None:
    (files_root.parent / "outside.png").write_bytes(png_bytes())
    (files_root / "uploads").mkdir()
    (files_root / "uploads/trick").symlink_to(files_root.parent / "outside.png")
    with pytest.raises(InvalidInput, match="outside the files root"):
        FileStore(files_root).resolve("uploads/trick")


def test_oversized_inputs_are_refused_before_hashing(files_root: Path) -> None:
    ref = put_file(files_root, "uploads/big", bytes(2048), "image/png")
    with pytest.raises(InvalidInput, match="2048 bytes, the limit is 1024"):
        FileStore(files_root).open_ref(ref, name="image", max_bytes=1024)


@pytest.mark.parametrize("bad_id", ["", "..", ".hidden", "a/b", "x" * 200, "new\nline"])
def test_unsafe_job_and_step_ids_are_refused(files_root: Path, bad_id: str) -> None:
    with pytest.raises(InvalidInput, match="job_id"):
        FileStore(files_root).writer(bad_id, "s")
    with pytest.raises(InvalidInput, match="step_id"):
        FileStore(files_root).writer("j", bad_id)


Maker = Callable[[bytes], Path]


@pytest.fixture
def make_file(tmp_path: Path) -> Maker:
    """Write bytes to a scratch file and return its path."""

    def make(data: bytes) -> Path:
        path = tmp_path / "input"
        path.write_bytes(data)
        return path

    return make


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_decode_to_rgb(make_file: Maker) -> None:
    image = load_image(make_file(_png(20, 10, "RGBA")), name="image", max_pixels=1000)
    assert (image.mode, image.size) == ("RGB", (20, 10))


def test_decompression_bombs_are_refused_before_decoding(make_file: Maker) -> None:
    with pytest.raises(InvalidInput, match="200x100 = 20000 pixels, the limit is 10000"):
        load_image(make_file(_png(200, 100)), name="image", max_pixels=10_000)


@pytest.mark.parametrize(
    "data",
    [png_bytes()[:80], b"GIF89a-not-really", b"\x89PNG\r\n\x1a\n" + bytes(100), b""],
    ids=["truncated-png", "fake-gif", "png-magic-only", "empty"],
)
def test_corrupt_images_are_refused(data: bytes, make_file: Maker) -> None:
    with pytest.raises(InvalidInput, match="not a readable image"):
        load_image(make_file(data), name="image", max_pixels=10**6)


def test_audio_is_probed_for_duration(make_file: Maker) -> None:
    audio = probe_audio(make_file(wav_bytes(1.5)), name="audio", max_seconds=10)
    assert audio.content_type == "audio/wav"
    assert audio.seconds == pytest.approx(1.5, abs=0.001)


def test_too_long_audio_is_refused(make_file: Maker) -> None:
    with pytest.raises(InvalidInput, match=r"lasts 3\.0 s, the limit is 2 s"):
        probe_audio(make_file(wav_bytes(3.0)), name="audio", max_seconds=2)


def test_empty_audio_is_refused(make_file: Maker) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        probe_audio(make_file(wav_bytes(0.0)), name="audio", max_seconds=2)


def test_truncated_wav_is_refused(make_file: Maker) -> None:
    with pytest.raises(InvalidInput, match="truncated"):
        probe_audio(make_file(wav_bytes(1.0)[:5000]), name="audio", max_seconds=10)


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF\x24\x00\x00\x00WAVE" + bytes(range(256)) * 8,  # header, then a chunk that runs past the end
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"
        + struct.pack("<HHIIHH", 1, 1, 8000, 16000, 0, 0)
        + b"data\x10\x00\x00\x00"
        + bytes(16),  # zero sample width
        b"RIFF\x24\x00\x00\x00WAVEfmt \x04\x00",  # fmt chunk cut short
    ],
    ids=["chunk-past-end", "zero-sample-width", "short-fmt"],
)
def test_damaged_wav_is_refused_as_bad_input(data: bytes, make_file: Maker) -> None:
    """A RIFF/WAVE header with a broken body is the sender's mistake (422), never a worker crash (500)."""
    with pytest.raises(InvalidInput):
        probe_audio(make_file(data), name="audio", max_seconds=10)


def test_non_audio_is_refused(make_file: Maker) -> None:
    with pytest.raises(InvalidInput, match="not an audio file"):
        probe_audio(make_file(b"hello, I am text"), name="audio", max_seconds=10)


def test_float_wav_that_wave_cannot_read_goes_to_pyav_or_is_refused_clearly(make_file: Maker) -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(1600))
    data = bytearray(buffer.getvalue())
    data[20:22] = struct.pack("<H", 3)  # WAVE_FORMAT_IEEE_FLOAT: the stdlib wave module refuses it
    try:
        import av  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInput, match="send PCM WAV"):
            probe_audio(make_file(bytes(data)), name="audio", max_seconds=10)
    else:
        with pytest.raises(InvalidInput):  # 16-bit "float" samples are not valid float audio either
            probe_audio(make_file(bytes(data)), name="audio", max_seconds=10)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (wav_bytes(0.01)[:16], "audio/wav"),
        (b"fLaC\x00\x00", "audio/flac"),
        (b"OggS\x00\x02", "audio/ogg"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x00", "audio/mpeg"),
        (b"<html>", None),
    ],
)
def test_audio_sniffing(head: bytes, expected: str | None) -> None:
    assert sniff_audio(head) == expected


def _encode(container: str, codec: str, seconds: float = 1.0, rate: int = 48_000) -> bytes:
    av = pytest.importorskip("av", reason="PyAV comes with the local extra")
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        tone = (np.sin(np.arange(int(rate * seconds)) * 2 * np.pi * 440 / rate) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("container", "codec", "content_type"),
    [
        ("webm", "libopus", "audio/webm"),
        ("ogg", "libopus", "audio/ogg"),
        ("flac", "flac", "audio/flac"),
        ("mp3", "libmp3lame", "audio/mpeg"),
        ("mp4", "aac", "audio/mp4"),
    ],
)
def test_compressed_audio_is_decoded_to_measure_it(
    make_file: Maker, container: str, codec: str, content_type: str
) -> None:
    audio = probe_audio(make_file(_encode(container, codec)), name="audio", max_seconds=10)
    assert audio.content_type == content_type
    assert audio.seconds == pytest.approx(1.0, abs=0.05)


def test_corrupt_compressed_audio_is_refused(make_file: Maker) -> None:
    data = _encode("webm", "libopus")
    with pytest.raises(InvalidInput, match="does not decode"):
        probe_audio(make_file(data[:40] + bytes(len(data) - 40)), name="audio", max_seconds=10)
