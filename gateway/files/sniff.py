"""Recognise an upload's format from its first bytes (magic numbers), never from its name or label.

Only the formats the pipelines can consume are recognised: images (PNG, JPEG, WebP, GIF) and audio
(WAV, MP3, FLAC, Ogg with Opus/Vorbis/FLAC/Speex, WebM/Matroska, MP4/M4A). Anything else is ``None``.
WebM, Matroska and MP4 are containers: any file of theirs counts as audio (a video track in it is left
for the speech worker's decoder to skip), and an MP4 is recognised by an audio-capable ``ftyp`` brand.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Literal

FileKind = Literal["image", "audio"]

#: How many leading bytes :func:`sniff` needs to decide every supported format (an ID3 tag longer
#: than this is trusted to front an MP3 stream).
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Sniffed:
    """What a file really is: its kind, canonical media type and usual extension."""

    kind: FileKind
    content_type: str
    extension: str

    @property
    def label(self) -> str:
        """Human wording for error messages, e.g. ``"a PNG image"``."""
        noun = "image" if self.kind == "image" else "audio file"
        name = _NAMES.get(self.extension, self.extension.upper())
        return f"{_ARTICLE.get(self.extension, 'a')} {name} {noun}"


PNG = Sniffed("image", "image/png", "png")
JPEG = Sniffed("image", "image/jpeg", "jpg")
WEBP = Sniffed("image", "image/webp", "webp")
GIF = Sniffed("image", "image/gif", "gif")
WAV = Sniffed("audio", "audio/wav", "wav")
MP3 = Sniffed("audio", "audio/mpeg", "mp3")
FLAC = Sniffed("audio", "audio/flac", "flac")
OGG = Sniffed("audio", "audio/ogg", "ogg")
OPUS = Sniffed("audio", "audio/ogg", "opus")
WEBM = Sniffed("audio", "audio/webm", "webm")
MATROSKA = Sniffed("audio", "audio/x-matroska", "mka")
M4A = Sniffed("audio", "audio/mp4", "m4a")

#: Every format :func:`sniff` can return, for "accepted: …" messages.
SUPPORTED: tuple[Sniffed, ...] = (PNG, JPEG, WEBP, GIF, WAV, MP3, FLAC, OGG, OPUS, WEBM, MATROSKA, M4A)

_NAMES = {"jpg": "JPEG", "mka": "Matroska", "opus": "Ogg Opus", "ogg": "Ogg Vorbis", "m4a": "MP4/M4A"}
_ARTICLE = {"m4a": "an", "mp3": "an", "ogg": "an", "opus": "an"}

_MP4_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"mp42", b"isom", b"dash", b"iso5", b"iso6", b"mp41"}
# MPEG audio bitrates (kbit/s) for MPEG-1 layer I, II, III and MPEG-2/2.5 layer I, II/III; index 0 = free.
_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def sniff(head: bytes) -> Sniffed | None:
    """Identify ``head`` (a file's first :data:`SNIFF_BYTES` bytes, or all of a shorter file)."""
    for check in (_image, _riff, _simple_audio, _ogg, _ebml, _mp4, _mp3):
        found = check(head)
        if found is not None:
            return found
    return None


def _image(head: bytes) -> Sniffed | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    return None


def _riff(head: bytes) -> Sniffed | None:
    if not head.startswith(b"RIFF") or len(head) < 12:
        return None
    return {b"WAVE": WAV, b"WEBP": WEBP}.get(head[8:12])


def _simple_audio(head: bytes) -> Sniffed | None:
    return FLAC if head.startswith(b"fLaC") else None


def _ogg(head: bytes) -> Sniffed | None:
    """Ogg page: 27-byte header + segment table, then the first packet names the codec."""
    if not head.startswith(b"OggS") or len(head) < 28:
        return None
    packet = head[27 + head[26] :]
    if packet.startswith(b"OpusHead"):
        return OPUS
    if packet.startswith((b"\x01vorbis", b"\x7fFLAC", b"Speex   ")):
        return OGG
    return None


def _ebml(head: bytes) -> Sniffed | None:
    """EBML header (RFC 8794); its DocType element (0x4282) says ``webm`` or ``matroska``."""
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    window = head[:64]
    if b"\x42\x82\x84webm" in window:
        return WEBM
    if b"\x42\x82\x88matroska" in window:
        return MATROSKA
    return None


def _mp4(head: bytes) -> Sniffed | None:
    """ISO base media file: box ``ftyp`` at offset 4 whose major brand is an audio-capable one."""
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _MP4_AUDIO_BRANDS:
        return M4A
    return None


def _mp3(head: bytes) -> Sniffed | None:
    """An ID3v2 tag, or an MPEG audio frame header whose successor (when in view) also syncs."""
    if head.startswith(b"ID3") and len(head) >= 10:
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        rest = head[10 + size :]
        if len(rest) < 4:
            return MP3  # the tag outlasts the sniffed window: trust it
        inner = sniff(rest)
        return inner if inner is not None and inner.kind == "audio" else None
    length = _mpeg_frame_length(head)
    if length is None:
        return None
    follower = head[length : length + 4]
    if len(follower) == 4 and _mpeg_frame_length(follower) is None:
        return None
    return MP3


def _mpeg_frame_length(header: bytes) -> int | None:
    """Byte length of the MPEG-1/2/2.5 layer I-III frame starting at ``header[0]``, or None."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version_bits, layer_bits = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version_bits == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values; layer 0 is AAC/ADTS, free bitrate is too rare to matter
    layer = 4 - layer_bits
    mpeg1 = version_bits == 3
    table = (1, layer) if mpeg1 else (2, 1 if layer == 1 else 2)
    bitrate = _BITRATES[table][bitrate_index] * 1000
    rate = _SAMPLE_RATES[version_bits][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    factor = 144 if layer == 2 or mpeg1 else 72
    return factor * bitrate // rate + padding


_NOT_SUPPORTED = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x00\x00\x01\x00", "an ICO image"),
    (b"<svg", "an SVG image"),
    (b"<?xml", "an XML document"),
    (b"<!DOCTYPE", "an HTML document"),
    (b"<html", "an HTML document"),
    (b"\x1f\x8b", "a gzip archive"),
)


def describe_unknown(head: bytes) -> str:
    """Best-effort wording for a file :func:`sniff` refused, e.g. ``"a PDF document"`` or ``"text"``."""
    stripped = head.lstrip()
    for magic, label in _NOT_SUPPORTED:
        if stripped[: len(magic)].lower() == magic.lower():
            return label
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1").strip()
        return f"an ISO media file with brand '{brand}' (HEIC/AVIF/video are not supported)"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "raw AAC (ADTS) audio"
    sample = head[:512]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        sample = b"\x00"
    if b"\x00" in sample:
        return f"an unrecognised binary format (starts with {head[:8].hex(' ')})"
    return "text"
