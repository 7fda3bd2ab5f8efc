"""``storyboard``: story segments {text, image, audio} → ONE self-contained HTML file that plays offline.

A pure gateway transform. The document embeds every picture and narration clip as a ``data:`` URI and carries
its own small player (picture, caption, narration; previous/next, play/pause, auto-advance when a clip ends,
←/→/space on the keyboard). It loads nothing from anywhere (a Content-Security-Policy forbids it), so it
opens from a download folder, an e-mail attachment or a USB stick. Without JavaScript it still reads as a
page of pictures, captions and audio players.

The file is written to a scratch file while each image and clip is streamed from the storage and base64-
encoded a chunk at a time (no whole media file in memory), then stored at ``jobs/<job>/<step>/<name>.html``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio.to_thread

from gateway.transforms import ListOf, Record, Transform, TransformCall, TransformError
from workers.kit.contract import FieldSpec
from workers.kit.storage import CHUNK_BYTES, FileStorage, ObjectNotFound

#: The most segments one storyboard holds.
MAX_SEGMENTS = 200
#: Longest caption kept (characters); longer text is cut with an ellipsis.
MAX_CAPTION = 4_000
_MEDIA_TYPE = re.compile(r"^(image|audio)/[a-z0-9][a-z0-9.+-]*$")


class StoryboardError(ValueError):
    """The segments cannot make a storyboard (lists of different lengths, not a picture…). Not retryable."""


@dataclass(frozen=True, slots=True)
class Media:
    """A stored file to embed: its key and content type."""

    key: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Segment:
    """One page of the story."""

    text: str
    image: Media | None = None
    audio: Media | None = None


def _file_value(value: Any, kind: str, where: str) -> Media | None:
    """A file reference (``{file, content_type, …}``) as Media; None stays None (a missing picture)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("file"), str):
        raise StoryboardError(f"{where} is not a file")
    content_type = str(value.get("content_type", "")).split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.match(content_type) or not content_type.startswith(kind + "/"):
        raise StoryboardError(f"{where} is {content_type or 'of no type'}, not {kind}")
    return Media(key=value["file"], content_type=content_type)


def _text_value(value: Any, where: str) -> str:
    if isinstance(value, dict):  # an item of the split transform: {index, text}
        value = value.get("text")
    if not isinstance(value, str):
        raise StoryboardError(f"{where} is not text")
    return value


def zip_segments(texts: Sequence[Any], images: Sequence[Any], audio: Sequence[Any]) -> list[Segment]:
    """Pair the i-th text with the i-th image and clip (a map step's outputs are lists in item order).

    ``texts`` may hold strings or ``{index, text}`` items; a missing image or clip (None) is allowed, a list
    of another length is not.
    """
    if not texts:
        raise StoryboardError("there are no segments")
    if len(texts) > MAX_SEGMENTS:
        raise StoryboardError(f"{len(texts)} segments is more than the {MAX_SEGMENTS} one storyboard holds")
    for name, values in (("images", images), ("audio", audio)):
        if len(values) != len(texts):
            raise StoryboardError(f"{len(texts)} segments but {len(values)} {name}: the lists must match")
    return [
        Segment(
            text=_text_value(text, f"segment {i}"),
            image=_file_value(image, "image", f"image {i}"),
            audio=_file_value(clip, "audio", f"audio {i}"),
        )
        for i, (text, image, clip) in enumerate(zip(texts, images, audio, strict=True))
    ]


def segments_output(
    segments: Sequence[Segment], images: Sequence[Any], audio: Sequence[Any]
) -> list[dict[str, Any]]:
    """The story's ``segments`` output: ``[{text, image, audio}]`` with the file references as given."""
    return [
        {"text": segment.text, "image": images[i], "audio": audio[i]} for i, segment in enumerate(segments)
    ]


# --- writing -----------------------------------------------------------------------------------------------


def _write_data_uri(out: IO[str], storage: FileStorage, media: Media) -> None:
    """``data:<type>;base64,<bytes>`` streamed from storage, encoded in whole 3-byte groups per chunk."""
    out.write(f"data:{media.content_type};base64,")
    carry = b""
    for chunk in storage.read_chunks(media.key):
        data = carry + chunk
        cut = len(data) - len(data) % 3
        out.write(base64.b64encode(data[:cut]).decode("ascii"))
        carry = data[cut:]
    if carry:
        out.write(base64.b64encode(carry).decode("ascii"))


def _caption(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CAPTION else text[: MAX_CAPTION - 1] + "…"


def write_storyboard(out: IO[str], storage: FileStorage, segments: Sequence[Segment], *, title: str) -> None:
    """The whole HTML document for ``segments`` into the text stream ``out``."""
    count = len(segments)
    out.write(_HEAD.replace("{{title}}", html.escape(title)).replace("{{count}}", str(count)))
    for number, segment in enumerate(segments):
        caption = html.escape(_caption(segment.text))
        out.write(f'<section class="slide" id="s{number + 1}" data-index="{number}">\n<figure>')
        if segment.image is not None:
            out.write('<img alt="" src="')
            _write_data_uri(out, storage, segment.image)
            out.write('">')
        else:
            out.write('<div class="noimage">no picture</div>')
        out.write(f"<figcaption>{caption}</figcaption></figure>\n")
        if segment.audio is not None:
            out.write('<audio controls preload="auto" src="')
            _write_data_uri(out, storage, segment.audio)
            out.write('"></audio>\n')
        out.write(f'<p class="pageno">{number + 1} / {count}</p></section>\n')
    out.write(_TAIL)


def build_storyboard(
    storage: FileStorage, segments: Sequence[Segment], key: str, *, title: str = "A story"
) -> dict[str, Any]:
    """Write the storyboard of ``segments`` and store it at ``key``; returns its file reference."""
    if not segments:
        raise StoryboardError("there are no segments")
    scratch = storage.scratch_dir
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=scratch, prefix="storyboard-", suffix=".html")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            write_storyboard(out, storage, segments, title=title.strip() or "A story")
            out.flush()
            os.fsync(out.fileno())
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
        storage.put_file(key, path, content_type="text/html", download_name=Path(key).name, move=True)
    finally:
        path.unlink(missing_ok=True)
    return {"file": key, "content_type": "text/html", "bytes": size, "sha256": digest.hexdigest()}


# --- the transform -----------------------------------------------------------------------------------------


async def _run(call: TransformCall) -> dict[str, Any]:
    texts = list(call.inputs.get("segments") or [])
    images = list(call.inputs.get("images") or [None] * len(texts))
    audio = list(call.inputs.get("audio") or [None] * len(texts))
    title = str(call.inputs.get("title") or "").strip() or "A story"
    try:
        segments = zip_segments(texts, images, audio)
        work = functools.partial(
            build_storyboard, call.storage, segments, call.key("storyboard", "html"), title=title
        )
        document = await anyio.to_thread.run_sync(work)
    except StoryboardError as exc:
        raise TransformError("Cannot build the storyboard", str(exc)) from None
    except ObjectNotFound as exc:
        raise TransformError("Cannot build the storyboard", f"a picture or clip is gone: {exc}") from None
    return {"document": document, "segments": segments_output(segments, images, audio)}


_TEXT = FieldSpec(type="text", required=True)

TRANSFORM = Transform(
    name="storyboard",
    description=(
        "Pair each segment's text with its picture and narration, and build one self-contained HTML "
        "storyboard that plays offline"
    ),
    inputs={
        "segments": ListOf(Record({"text": _TEXT}), description="The segments, e.g. split's {index, text}"),
        "images": ListOf(FieldSpec(type="image"), required=False, description="One picture per segment"),
        "audio": ListOf(
            FieldSpec(type="audio"), required=False, description="One narration clip per segment"
        ),
        "title": FieldSpec(type="text", max_length=200, description="The document's title"),
    },
    outputs={
        "document": FieldSpec(type="file", required=True, description="The storyboard (one HTML file)"),
        "segments": ListOf(
            Record(
                {
                    "text": _TEXT,
                    "image": FieldSpec(type="image"),
                    "audio": FieldSpec(type="audio"),
                }
            ),
            description="[{text, image, audio}] in story order",
        ),
    },
    run=_run,
)


_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="generator" content="Modaline text_to_story">
<title>{{title}}</title>
<style>
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0 auto; max-width: 52rem; padding: 1rem; line-height: 1.5; }
h1 { font-size: 1.4rem; margin: 0 0 .75rem; }
figure { margin: 0; }
img { display: block; width: 100%; height: auto; max-height: 70vh; object-fit: contain; border-radius: 6px; background: #0001; }
.noimage { padding: 4rem 1rem; text-align: center; background: #0001; border-radius: 6px; }
figcaption { font-size: 1.15rem; margin: .75rem 0; }
audio { width: 100%; }
.slide { margin-bottom: 2rem; }
.pageno { opacity: .7; font-size: .9rem; }
.controls { display: none; gap: .5rem; align-items: center; flex-wrap: wrap; margin: .75rem 0; }
.controls button { font-size: 1rem; padding: .4rem .9rem; }
html.js .controls { display: flex; }
html.js .slide { display: none; }
html.js .slide.current { display: block; }
html.js .pageno { display: none; }
</style>
</head>
<body>
<h1>{{title}}</h1>
<div class="controls" role="toolbar" aria-label="Story controls">
<button type="button" id="prev" aria-label="Previous page">&larr; Previous</button>
<button type="button" id="play" aria-label="Play">Play</button>
<button type="button" id="next" aria-label="Next page">Next &rarr;</button>
<label><input type="checkbox" id="auto" checked> Turn pages when the narration ends</label>
<span id="counter" aria-live="polite">1 / {{count}}</span>
</div>
<main>
"""

_TAIL = """</main>
<script>
(function () {
  document.documentElement.className = "js";
  var slides = Array.prototype.slice.call(document.querySelectorAll(".slide"));
  var counter = document.getElementById("counter"), play = document.getElementById("play");
  var auto = document.getElementById("auto"), current = 0, playing = false;
  function audioOf(i) { return slides[i] && slides[i].querySelector("audio"); }
  function stopAll() { slides.forEach(function (s, i) { var a = audioOf(i); if (a) { a.pause(); } }); }
  function label() { play.textContent = playing ? "Pause" : "Play"; play.setAttribute("aria-label", playing ? "Pause" : "Play"); }
  function show(i) {
    current = Math.max(0, Math.min(slides.length - 1, i));
    slides.forEach(function (s, k) { s.classList.toggle("current", k === current); });
    counter.textContent = (current + 1) + " / " + slides.length;
    document.body.setAttribute("data-current", String(current));
  }
  function start() {
    var a = audioOf(current);
    playing = true; label();
    if (a) { a.play().catch(function () { playing = false; label(); }); }
  }
  function go(i, keepPlaying) {
    stopAll(); show(i);
    var a = audioOf(current); if (a) { a.currentTime = 0; }
    if (keepPlaying) { start(); } else { playing = false; label(); }
  }
  function toggle() {
    if (playing) { stopAll(); playing = false; label(); } else { start(); }
  }
  slides.forEach(function (s, i) {
    var a = audioOf(i);
    if (!a) { return; }
    a.addEventListener("play", function () { if (i === current) { playing = true; label(); } });
    a.addEventListener("ended", function () {
      if (i !== current) { return; }
      if (auto.checked && current < slides.length - 1) { go(current + 1, true); }
      else { playing = false; label(); document.body.setAttribute("data-finished", current === slides.length - 1 ? "true" : "false"); }
    });
  });
  document.getElementById("prev").addEventListener("click", function () { go(current - 1, playing); });
  document.getElementById("next").addEventListener("click", function () { go(current + 1, playing); });
  play.addEventListener("click", toggle);
  document.addEventListener("keydown", function (e) {
    if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "BUTTON") && e.key === " ") { return; }
    if (e.key === "ArrowRight") { go(current + 1, playing); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { go(current - 1, playing); e.preventDefault(); }
    else if (e.key === " ") { toggle(); e.preventDefault(); }
  });
  show(0);
})();
</script>
</body>
</html>
"""
