"""The offline image backend and its engine: a deterministic procedural placeholder, not an AI model.

No registry package ships an offline text-to-image model small enough to install, so the ``local`` image
backend draws a picture *derived from* the prompt (palette, shapes and layout come from the prompt's words
and the seed) and says plainly, on the image and in its PNG metadata, that it is a placeholder.

:class:`PlaceholderImageBackend` is what ``IMAGE_BACKEND=local`` selects; the kit builds its engine,
:class:`PlaceholderImageRenderer`, on the first load.
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import re
import textwrap
import threading

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from workers.image.backends.options import IMAGE_OPTIONS
from workers.kit.backend import Call, LocalEngineBackend, Result
from workers.kit.contract import FieldSpec

MIN_SIDE = 64
MAX_SIDE = 1536
BANNER_TEXT = "PLACEHOLDER — not AI-generated"
BANNER_LINES = ("PLACEHOLDER", "not AI-generated")
#: Banner colours, fixed so a viewer (and a test) can always find the label.
BANNER_BG = (16, 16, 16)
BANNER_FG = (255, 214, 0)

RGB = tuple[int, int, int]
_TEXT_LOCK = threading.Lock()

#: Words that steer the palette, so "blue ocean" looks blue and "forest" green.
_WORD_COLOURS: dict[str, RGB] = {
    "red": (200, 40, 40),
    "fire": (230, 80, 20),
    "orange": (240, 140, 30),
    "sunset": (245, 120, 60),
    "sun": (250, 200, 60),
    "yellow": (240, 220, 50),
    "gold": (212, 175, 55),
    "green": (50, 160, 70),
    "forest": (30, 110, 50),
    "tree": (40, 130, 60),
    "grass": (90, 170, 60),
    "blue": (40, 90, 200),
    "sky": (110, 170, 235),
    "ocean": (20, 80, 160),
    "sea": (30, 100, 170),
    "water": (60, 140, 200),
    "purple": (120, 60, 170),
    "violet": (140, 80, 200),
    "pink": (240, 130, 180),
    "brown": (120, 80, 40),
    "black": (25, 25, 25),
    "night": (20, 25, 60),
    "white": (235, 235, 235),
    "snow": (240, 245, 250),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (190, 190, 200),
}


class PlaceholderImageRenderer:
    """Procedural PNG renderer: same prompt and seed give identical bytes; other prompts other pictures.

    Thread-safe: rendering keeps no state, and text drawing with the shared fonts is serialised.
    """

    model = "procedural-placeholder-v1"
    placeholder = True

    def load(self) -> None:
        """Nothing heavy to load; warms the font cache so the first render is as fast as the rest."""
        _font(16)

    def render(self, prompt: str, width: int, height: int, seed: int | None) -> bytes:
        """Draw ``prompt`` as a labelled placeholder PNG of ``width`` x ``height`` pixels."""
        prompt = prompt.strip()
        if not prompt:
            raise ValueError("prompt is empty")
        for name, side in (("width", width), ("height", height)):
            if not isinstance(side, int) or not MIN_SIDE <= side <= MAX_SIDE:
                raise ValueError(f"{name} must be an integer from {MIN_SIDE} to {MAX_SIDE}, got {side!r}")
        digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
        rng = random.Random(digest)
        words = _words(prompt)
        palette = _palette(words, digest)

        img = _gradient(width, height, palette[0], palette[1])
        _draw_shapes(img, words, palette, rng)
        with _TEXT_LOCK:  # FreeType faces are not thread-safe; the cached fonts are shared
            _draw_caption(img, prompt)
            _draw_banner(img)
        return _encode_png(img, prompt, seed)


def _draw_caption(img: Image.Image, prompt: str) -> None:
    """The prompt itself, up to three wrapped lines on a dark strip along the bottom."""
    width, height = img.size
    size = max(8, min(width, height) // 24)
    font = _font(size)
    chars_per_line = max(8, int(width / (size * 0.55)))
    wrapped = textwrap.wrap(prompt, chars_per_line)
    lines = wrapped[:3]
    if len(wrapped) > 3:
        lines[-1] = lines[-1][: max(1, chars_per_line - 3)] + "..."
    line_h = int(size * 1.3)
    box_h = line_h * len(lines) + size
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((0, height - box_h, width, height), fill=(0, 0, 0, 150))
    for i, line in enumerate(lines):
        draw.text((size // 2, height - box_h + size // 2 + i * line_h), line, fill="white", font=font)
    img.paste(Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB"))


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font (no system fonts), so the output is the same on every machine."""
    return ImageFont.load_default(size=size)


def banner_height(width: int, height: int) -> int:
    """Height in pixels of the top band that carries the placeholder label."""
    size, lines = _banner_font_size(width, height)
    return _banner_band(size, lines)


def _banner_band(size: int, lines: int) -> int:
    return round(size * 1.25 * lines + size * 0.5)


def _banner_font_size(width: int, height: int) -> tuple[int, int]:
    """Font size and line count (1, or 2 on narrow images) for the label to fit the width."""
    cap = max(7, min(height // 12, 40))
    one = next((s for s in range(cap, 9, -1) if _label_width(s) <= width - 8), 0)
    if one:
        return one, 1
    longest = max(BANNER_LINES, key=lambda t: _font(20).getlength(t))
    two = next((s for s in range(cap, 6, -1) if _font(s).getlength(longest) <= width - 4), 7)
    return two, 2


def _label_width(size: int) -> float:
    font = _font(size)
    return font.getlength(f"{BANNER_LINES[0]} ") + _dash_width(size) + font.getlength(f" {BANNER_LINES[1]}")


def _dash_width(size: int) -> float:
    return round(size * 0.9)


def _draw_banner(img: Image.Image) -> None:
    """A dark band across the top with the label in yellow; the em dash is drawn (the font lacks it)."""
    width, height = img.size
    size, lines = _banner_font_size(width, height)
    band = _banner_band(size, lines)
    font = _font(size)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width - 1, band - 1), fill=BANNER_BG)
    if lines == 1:
        x = (width - _label_width(size)) / 2
        y = band / 2
        draw.text((x, y), BANNER_LINES[0], fill=BANNER_FG, font=font, anchor="lm")
        x += font.getlength(f"{BANNER_LINES[0]} ")
        thick = max(1, size // 10)
        draw.rectangle((x, y - thick / 2, x + _dash_width(size) - 1, y + thick / 2), fill=BANNER_FG)
        x += _dash_width(size) + font.getlength(" ")
        draw.text((x, y), BANNER_LINES[1], fill=BANNER_FG, font=font, anchor="lm")
        return
    for i, line in enumerate(BANNER_LINES):
        y = size * 0.25 + size * 1.25 * (i + 0.5)
        draw.text((width / 2, y), line, fill=BANNER_FG, font=font, anchor="mm")


def _words(prompt: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", prompt.lower()) or [prompt.lower()]


def _palette(words: list[str], digest: bytes) -> list[RGB]:
    """Colours named in the prompt first, then colours derived from each word's hash."""
    named = [_WORD_COLOURS[w] for w in words if w in _WORD_COLOURS]
    hashed = [_hash_colour(w.encode() + digest[:4]) for w in words]
    palette = named + hashed
    while len(palette) < 3:
        palette.append(_hash_colour(digest[len(palette) :]))
    return palette


def _hash_colour(data: bytes) -> RGB:
    h = hashlib.blake2b(data, digest_size=3).digest()
    return (h[0], h[1], h[2])


def _gradient(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    column = Image.new("RGB", (1, height))
    for y in range(height):
        t = y / max(1, height - 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    return column.resize((width, height), Image.Resampling.NEAREST)


def _draw_shapes(img: Image.Image, words: list[str], palette: list[RGB], rng: random.Random) -> None:
    """One shape per word (up to 24): kind, place and size from the word and the seed."""
    width, height = img.size
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for i, word in enumerate(words[:24]):
        kind = hashlib.blake2b(word.encode(), digest_size=1).digest()[0] % 4
        colour = (*palette[(i + 2) % len(palette)], 170 + rng.randrange(60))
        r = rng.uniform(0.08, 0.28) * min(width, height)
        cx, cy = rng.uniform(0, width), rng.uniform(height * 0.15, height)
        box = (cx - r, cy - r, cx + r, cy + r)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        elif kind == 2:
            draw.regular_polygon(
                (cx, cy, r), n_sides=3 + len(word) % 5, rotation=rng.uniform(0, 360), fill=colour
            )
        else:
            for k in range(4):
                off = k * r * 0.12
                draw.arc(
                    (box[0] + off, box[1] + off, box[2] - off, box[3] - off), 0, 360, fill=colour, width=3
                )
    img.paste(Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB"))


def _encode_png(img: Image.Image, prompt: str, seed: int | None) -> bytes:
    info = PngInfo()
    info.add_text("Software", "Modaline procedural-placeholder-v1")
    info.add_text(
        "Description",
        "PLACEHOLDER, not AI-generated: a procedural picture derived from the prompt by Modaline's offline "
        "image backend.",
    )
    info.add_text("modaline:placeholder", "true")
    info.add_text("modaline:prompt", prompt)  # stored as iTXt when not Latin-1
    if seed is not None:
        info.add_text("modaline:seed", str(seed))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


class PlaceholderImageBackend(LocalEngineBackend):
    """The procedural renderer above (:class:`PlaceholderImageRenderer`): not an AI model, and says so."""

    engine_module = "workers.image.backends.local"
    engine_class = "PlaceholderImageRenderer"

    def options(self) -> dict[str, FieldSpec]:
        return IMAGE_OPTIONS

    def run(self, call: Call) -> Result:
        with self.engine_errors():
            png = self.engine.render(
                call.inputs["prompt"], call.options["width"], call.options["height"], call.options["seed"]
            )
        return Result(outputs={"image": call.outputs.write("image", png, "image/png")})
