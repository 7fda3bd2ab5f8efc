"""The procedural placeholder renderer: deterministic, prompt-dependent and honestly labelled."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from workers.image.backends.local import BANNER_BG, BANNER_FG, PlaceholderImageRenderer, banner_height

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module")
def renderer() -> PlaceholderImageRenderer:
    engine = PlaceholderImageRenderer()
    engine.load()
    return engine


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_same_prompt_and_seed_give_identical_bytes(renderer: PlaceholderImageRenderer) -> None:
    a = renderer.render("a lighthouse on a cliff at dawn", 320, 240, 7)
    b = PlaceholderImageRenderer().render("a lighthouse on a cliff at dawn", 320, 240, 7)
    assert a == b
    assert renderer.render("a lighthouse", 128, 128, None) == renderer.render("a lighthouse", 128, 128, None)


def test_output_is_a_png_of_the_requested_size(renderer: PlaceholderImageRenderer) -> None:
    png = renderer.render("a cat", 300, 200, 1)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (300, 200) and image.mode == "RGB"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a red fox in the snow", 1), ("a blue whale in the ocean", 1)),
        (("a red fox in the snow", 1), ("a red fox in the snow", 2)),
    ],
)
def test_other_prompts_or_seeds_give_visibly_other_pictures(
    renderer: PlaceholderImageRenderer, first: tuple[str, int], second: tuple[str, int]
) -> None:
    a = pixels(renderer.render(first[0], 256, 256, first[1]))
    b = pixels(renderer.render(second[0], 256, 256, second[1]))
    band = banner_height(256, 256)
    body = np.abs(a[band:] - b[band:]).mean()
    assert body > 15, f"mean pixel difference {body:.1f} is too small to see"


def test_colour_words_steer_the_palette(renderer: PlaceholderImageRenderer) -> None:
    blue = pixels(renderer.render("blue ocean", 256, 256, 3)).mean(axis=(0, 1))
    red = pixels(renderer.render("red fire", 256, 256, 3)).mean(axis=(0, 1))
    assert blue[2] > blue[0] and red[0] > red[2]


def test_png_metadata_says_placeholder_and_keeps_the_prompt(renderer: PlaceholderImageRenderer) -> None:
    prompt = "a watercolour of a café in Zürich, 猫 included"
    png = renderer.render(prompt, 200, 200, 5)
    image = Image.open(io.BytesIO(png))
    assert isinstance(image, PngImagePlugin.PngImageFile)
    text = image.text  # tEXt/iTXt chunks

    assert b"tEXtmodaline:placeholder\x00true" in png  # a plain tEXt chunk any PNG tool can read

    assert text["modaline:placeholder"] == "true"
    assert text["modaline:prompt"] == prompt
    assert text["modaline:seed"] == "5"
    assert "placeholder" in text["Description"].lower() and "not ai-generated" in text["Description"].lower()
    assert text["Software"].startswith("Modaline")


@pytest.mark.parametrize(("width", "height"), [(512, 512), (1536, 256), (64, 64), (96, 1200)])
def test_visible_banner_across_the_top(renderer: PlaceholderImageRenderer, width: int, height: int) -> None:
    rgb = pixels(renderer.render("green hills under a grey sky", width, height, 9))
    band = rgb[: banner_height(width, height)]

    is_bg = (np.abs(band - BANNER_BG).sum(axis=2) < 10).mean()
    # anti-aliased yellow text: clearly more red than blue, unlike the neutral dark band
    is_text = ((band[..., 0] - band[..., 2]) > 50).mean()
    assert is_bg > 0.6, f"banner background covers only {is_bg:.0%}"
    assert is_text > 0.02, f"banner text covers only {is_text:.1%}"
    assert (np.abs(band - BANNER_FG).sum(axis=2) < 60).any(), "no pixel has the label colour"
    below = rgb[banner_height(width, height) + 2 :]
    assert (np.abs(below - BANNER_BG).sum(axis=2) < 10).mean() < 0.5  # the band ends where it says


@pytest.mark.parametrize(
    ("prompt", "width", "height", "message"),
    [
        ("", 256, 256, "empty"),
        ("ok", 63, 256, "width"),
        ("ok", 256, 1537, "height"),
        ("ok", 256.0, 256, "width"),
    ],
)
def test_bad_input_is_a_value_error(
    renderer: PlaceholderImageRenderer, prompt: str, width: int, height: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        renderer.render(prompt, width, height, None)


def test_is_labelled_as_a_placeholder_model(renderer: PlaceholderImageRenderer) -> None:
    assert renderer.placeholder is True
    assert renderer.model == "procedural-placeholder-v1"


def test_concurrent_renders_match_sequential_ones(renderer: PlaceholderImageRenderer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    prompts = [f"prompt number {i} with a purple moon" for i in range(6)]
    sequential = [renderer.render(p, 192, 128, 1) for p in prompts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda p: renderer.render(p, 192, 128, 1), prompts))
    assert concurrent == sequential
