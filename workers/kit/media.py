"""Decode and check media before a backend sees it: images with Pillow, audio with ``wave`` (or PyAV).

Corrupt files, decompression bombs (too many pixels), empty or too-long audio are refused with
:class:`InvalidInput` — a backend only ever receives something it can work on.
"""

from __future__ import annotations

import importlib
import io
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from workers.kit.errors import InvalidInput

_AUDIO_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"WAVE", 8, "audio/wav"),
    (b"fLaC", 0, "audio/flac"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"),
    (b"\xff\xf3", 0, "audio/mpeg"),
    (b"\xff\xf2", 0, "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", 0, "audio/webm"),  # what browsers' MediaRecorder produces
    (b"ftyp", 4, "audio/mp4"),
)


@dataclass(frozen=True)
class AudioInput:
    """An audio file on the shared volume that decodes and fits the limits."""

    path: Path
    content_type: str
    seconds: float

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


def load_image(path: Path, *, name: str, max_pixels: int) -> Image.Image:
    """Decode an image fully (RGB, EXIF orientation applied); refuse corrupt files and pixel bombs."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise InvalidInput(
                    f"input {name!r}: image is {width}x{height} = {width * height} pixels, "
                    f"the limit is {max_pixels}"
                )
            img.load()
            upright = ImageOps.exif_transpose(img)
            return upright.convert("RGB")
    except Image.DecompressionBombError as exc:
        raise InvalidInput(f"input {name!r}: image has too many pixels ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"input {name!r}: not a readable image ({exc})") from exc


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of a Pillow image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def sniff_audio(data: bytes) -> str | None:
    """The audio media type the first bytes announce, or None."""
    for magic, offset, content_type in _AUDIO_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return content_type
    return None


def probe_audio(path: Path, *, name: str, max_seconds: float) -> AudioInput:
    """Decode an audio file end to end and check its duration."""
    with path.open("rb") as handle:
        head = handle.read(16)
    content_type = sniff_audio(head)
    if content_type is None:
        raise InvalidInput(
            f"input {name!r}: not an audio file this worker understands (WAV, FLAC, MP3, OGG, WebM, MP4)"
        )
    seconds = _wav_seconds(path, name=name) if content_type == "audio/wav" else None
    if seconds is None:
        seconds = _av_seconds(path, name=name, content_type=content_type)
    if seconds <= 0:
        raise InvalidInput(f"input {name!r}: audio is empty")
    if seconds > max_seconds:
        raise InvalidInput(f"input {name!r}: audio lasts {seconds:.1f} s, the limit is {max_seconds:g} s")
    return AudioInput(path=path, content_type=content_type, seconds=seconds)


def _wav_seconds(path: Path, *, name: str) -> float | None:
    """Duration of a PCM WAV read to the end; None when ``wave`` cannot read this WAV flavour."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, expected = wav.getframerate(), wav.getnframes()
            frames = 0
            while chunk := wav.readframes(65536):
                frames += len(chunk) // (wav.getsampwidth() * wav.getnchannels())
    except (wave.Error, EOFError, RuntimeError, struct.error, ValueError, ZeroDivisionError):
        # The stdlib reader fails in many ways on damaged or exotic headers (RuntimeError from a chunk seek past
        # the end, struct.error on short chunks, ZeroDivisionError on a zero sample width): let PyAV judge it.
        return None
    if rate <= 0:
        return None
    if frames < expected:
        raise InvalidInput(f"input {name!r}: WAV is truncated ({frames} of {expected} frames)")
    return frames / rate


def _av_seconds(path: Path, *, name: str, content_type: str) -> float:
    """Duration by decoding with PyAV (installed with the ``local`` extra)."""
    try:
        av = importlib.import_module("av")
    except ImportError as exc:
        raise InvalidInput(
            f"input {name!r}: {content_type} cannot be decoded by this worker; send PCM WAV "
            "(or install the local extra: pip install '.[local]')"
        ) from exc
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            rate = stream.rate or stream.codec_context.sample_rate
    except Exception as exc:  # PyAV raises its own error family (av.FFmpegError, IndexError…)
        raise InvalidInput(f"input {name!r}: audio does not decode ({exc})") from exc
    return samples / rate if rate else 0.0
