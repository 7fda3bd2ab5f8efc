"""storyboard: segments become one HTML file that holds its pictures and narration and plays offline.

Every test that takes ``storage`` runs on a directory store and on an S3 bucket (moto)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tracemalloc
from html.parser import HTMLParser
from typing import Any

import pytest
from media_helpers import tone, wav_bytes
from PIL import Image

from gateway.transforms.storyboard import (
    Media,
    Segment,
    StoryboardError,
    build_storyboard,
    segments_output,
    zip_segments,
)
from workers.kit.storage import FileStorage


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, format="PNG")
    return buf.getvalue()


def _ref(storage: FileStorage, key: str, data: bytes, content_type: str) -> dict[str, Any]:
    storage.put_bytes(key, data, content_type=content_type)
    return {
        "file": key,
        "content_type": content_type,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


class _Page(HTMLParser):
    """What a browser would find: slides with their image, caption and audio; scripts; external loads."""

    def __init__(self) -> None:
        super().__init__()
        self.slides: list[dict[str, Any]] = []
        self.external: list[str] = []
        self.csp = ""
        self.title = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and "slide" in (a.get("class") or ""):
            self.slides.append({"caption": "", "image": None, "audio": None})
        for name in ("src", "href"):
            value = a.get(name)
            if value and not value.startswith("data:") and not value.startswith("#"):
                self.external.append(value)
        if tag == "img" and self.slides:
            self.slides[-1]["image"] = a["src"]
        if tag == "audio" and self.slides:
            self.slides[-1]["audio"] = a["src"]
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.csp = a.get("content") or ""
        if tag in ("figcaption", "title"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "figcaption":
            self.slides[-1]["caption"] += data
        elif self._in == "title":
            self.title += data


def _decode(uri: str) -> tuple[str, bytes]:
    match = re.fullmatch(r"data:([a-z]+/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]*)", uri)
    assert match, uri[:80]
    return match.group(1), base64.b64decode(match.group(2), validate=True)


def _page(storage: FileStorage, key: str) -> _Page:
    page = _Page()
    page.feed(b"".join(storage.read_chunks(key)).decode("utf-8"))
    return page


def test_the_document_embeds_every_picture_and_clip_byte_for_byte(storage: FileStorage) -> None:
    images = [
        _ref(storage, f"jobs/j/draw[{i}]/image.png", _png((40 * i, 80, 120)), "image/png") for i in range(3)
    ]
    clips = [wav_bytes(tone(0.2 + i / 10, 22050), 22050) for i in range(3)]
    audio = [_ref(storage, f"jobs/j/speak[{i}]/audio.wav", c, "audio/wav") for i, c in enumerate(clips)]
    texts = [
        {"index": 0, "text": "A fox wakes."},
        {"index": 1, "text": "It <runs> & jumps."},
        {"index": 2, "text": "The end."},
    ]

    ref = build_storyboard(
        storage, zip_segments(texts, images, audio), "jobs/j/storyboard/storyboard.html", title="The fox"
    )

    data = b"".join(storage.read_chunks("jobs/j/storyboard/storyboard.html"))
    assert ref == {
        "file": "jobs/j/storyboard/storyboard.html",
        "content_type": "text/html",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    page = _page(storage, ref["file"])
    assert page.title == "The fox"
    assert [s["caption"] for s in page.slides] == ["A fox wakes.", "It <runs> & jumps.", "The end."]
    for i, slide in enumerate(page.slides):
        assert _decode(slide["image"]) == ("image/png", b"".join(storage.read_chunks(images[i]["file"])))
        assert _decode(slide["audio"]) == ("audio/wav", clips[i])
    assert page.external == []  # nothing is loaded from anywhere
    assert "default-src 'none'" in page.csp


def test_text_cannot_inject_markup_or_script(storage: FileStorage) -> None:
    evil = '</figcaption><script>alert(1)</script><img src="https://evil.example/x.png">'
    segments = [Segment(text=evil)]
    ref = build_storyboard(storage, segments, "o/s.html", title="<script>x</script>")
    text = b"".join(storage.read_chunks(ref["file"])).decode()
    assert "<script>alert" not in text and "<script>x" not in text
    page = _page(storage, ref["file"])
    assert page.slides[0]["caption"] == evil
    assert page.external == []


def test_a_segment_without_a_picture_or_narration_still_gets_its_page(storage: FileStorage) -> None:
    clip = _ref(storage, "a/0.wav", wav_bytes(tone(0.1, 8000), 8000), "audio/wav")
    segments = zip_segments(["one", "two"], [None, None], [clip, None])
    page = _page(storage, build_storyboard(storage, segments, "a/s.html")["file"])
    assert [(s["image"], s["audio"] is not None) for s in page.slides] == [(None, True), (None, False)]


def test_lists_of_other_lengths_or_wrong_kinds_are_refused() -> None:
    image = {"file": "a.png", "content_type": "image/png", "bytes": 1, "sha256": "0" * 64}
    clip = {"file": "a.wav", "content_type": "audio/wav", "bytes": 1, "sha256": "0" * 64}
    with pytest.raises(StoryboardError, match="2 segments but 1 images"):
        zip_segments(["a", "b"], [image], [clip, clip])
    with pytest.raises(StoryboardError, match="image 0 is audio/wav, not image"):
        zip_segments(["a"], [clip], [clip])
    with pytest.raises(StoryboardError, match="audio 0 is text/html, not audio"):
        zip_segments(["a"], [image], [{**clip, "content_type": "text/html"}])
    with pytest.raises(StoryboardError, match="segment 0 is not text"):
        zip_segments([3], [image], [clip])
    with pytest.raises(StoryboardError, match="no segments"):
        zip_segments([], [], [])


def test_the_segments_output_pairs_text_picture_and_clip_in_item_order() -> None:
    images = [
        {"file": f"{i}.png", "content_type": "image/png", "bytes": 1, "sha256": "0" * 64} for i in range(2)
    ]
    clips = [
        {"file": f"{i}.wav", "content_type": "audio/wav", "bytes": 1, "sha256": "0" * 64} for i in range(2)
    ]
    texts = [{"index": 0, "text": "first"}, {"index": 1, "text": "second"}]
    assert segments_output(zip_segments(texts, images, clips), images, clips) == [
        {"text": "first", "image": images[0], "audio": clips[0]},
        {"text": "second", "image": images[1], "audio": clips[1]},
    ]


def test_large_media_are_streamed_into_the_document(storage: FileStorage) -> None:
    big = wav_bytes(tone(120, 44100), 44100)  # ~10.6 MB
    clip = _ref(storage, "b/0.wav", big, "audio/wav")
    del big
    tracemalloc.start()
    try:
        ref = build_storyboard(
            storage, [Segment("long", audio=Media(clip["file"], "audio/wav"))] * 3, "b/s.html"
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref["bytes"] > 3 * 14_000_000  # base64 of three clips
    assert peak < 6_000_000, f"peak {peak / 1e6:.1f} MB"
