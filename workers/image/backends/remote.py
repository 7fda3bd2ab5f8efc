"""Text-to-image on Hugging Face Inference (``IMAGE_BACKEND=hf``, key ``HF_TOKEN``)."""

from __future__ import annotations

from workers.image.backends.options import IMAGE_OPTIONS
from workers.kit.backend import Call, Result
from workers.kit.contract import FieldSpec
from workers.kit.media import encode_png
from workers.kit.remote import HFInferenceBackend


class HFTextToImageBackend(HFInferenceBackend):
    """``InferenceClient.text_to_image``: JSON ``{"inputs", "parameters"}`` in, image bytes out."""

    default_model = "black-forest-labs/FLUX.1-schnell"

    def options(self) -> dict[str, FieldSpec]:
        return IMAGE_OPTIONS

    def run(self, call: Call) -> Result:
        with self.calling():
            image = self.client.text_to_image(
                call.inputs["prompt"],
                model=self.model_url,
                width=call.options["width"],
                height=call.options["height"],
                seed=call.options["seed"],
            )
        return Result(outputs={"image": call.outputs.write("image", encode_png(image), "image/png")})
