"""Sniffing recognises every supported format from real bytes and refuses everything else."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.files import SNIFF_BYTES, Sniffed, sniff

EXPECTED = {
    "png": Sniffed("image", "image/png", "png"),
    "jpeg": Sniffed("image", "image/jpeg", "jpg"),
    "webp": Sniffed("image", "image/webp", "webp"),
    "gif": Sniffed("image", "image/gif", "gif"),
    "wav": Sniffed("audio", "audio/wav", "wav"),
    "mp3": Sniffed("audio", "audio/mpeg", "mp3"),
    "mp3-id3": Sniffed("audio", "audio/mpeg", "mp3"),
    "flac": Sniffed("audio", "audio/flac", "flac"),
    "ogg": Sniffed("audio", "audio/ogg", "ogg"),
    "opus": Sniffed("audio", "audio/ogg", "opus"),
    "webm": Sniffed("audio", "audio/webm", "webm"),
    "mka": Sniffed("audio", "audio/x-matroska", "mka"),
    "m4a": Sniffed("audio", "audio/mp4", "m4a"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sniff_recognises_real_files(name: str, sample: Callable[[str], bytes]) -> None:
    assert sniff(sample(name)[:SNIFF_BYTES]) == EXPECTED[name]


MPEG1_L3_128K_44K = b"\xff\xfb\x90\x64"  # a valid frame header: 417-byte frames


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", id="pdf"),
        pytest.param(b"hello, this is plain text\n", id="text"),
        pytest.param(b"PK\x03\x04\x14\x00\x00\x00", id="zip"),
        pytest.param(b"RIFF\x24\x00\x00\x00AVI LIST", id="riff-avi"),
        pytest.param(b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e\x80theora", id="ogg-theora"),
        pytest.param(b"\x1a\x45\xdf\xa3\x84\x42\x82\x84abcd", id="ebml-other-doctype"),
        pytest.param(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", id="heic"),
        pytest.param(b"\xff\xf1\x50\x80\x02\x1f\xfc", id="aac-adts"),
        pytest.param(MPEG1_L3_128K_44K + b"\x00" * 600, id="mpeg-sync-then-garbage"),
        pytest.param(b"\xff\xd8", id="truncated-jpeg-magic"),
        pytest.param(b"ID3\x04\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00%PDF-1.4", id="id3-before-pdf"),
    ],
)
def test_sniff_refuses_other_formats(head: bytes) -> None:
    assert sniff(head) is None


def test_mpeg_frame_sync_needs_a_following_frame_when_one_is_in_view() -> None:
    two_frames = (MPEG1_L3_128K_44K + b"\x00" * 413) * 2
    assert sniff(two_frames) == EXPECTED["mp3"]


def test_long_id3_tag_past_the_sniff_window_is_trusted(sample: Callable[[str], bytes]) -> None:
    big_tag_header = b"ID3\x04\x00\x00\x00\x01\x00\x00"  # synchsafe size 16384 > SNIFF_BYTES
    assert sniff((big_tag_header + b"\x00" * SNIFF_BYTES)[:SNIFF_BYTES]) == EXPECTED["mp3"]
