"""The image worker's backends, by ``IMAGE_BACKEND`` name."""

from __future__ import annotations

from collections.abc import Mapping

from workers.image.backends.remote import IMAGE_OPTIONS, HFTextToImageBackend
from workers.kit.backend import BackendFactory, Call, LocalEngineBackend, Result
from workers.kit.contract import FieldSpec


class PlaceholderImageBackend(LocalEngineBackend):
    """The offline procedural renderer (``workers/image/backends/local.py``): not an AI model, and says so."""

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


BACKENDS: Mapping[str, BackendFactory] = {"hf": HFTextToImageBackend, "local": PlaceholderImageBackend}
