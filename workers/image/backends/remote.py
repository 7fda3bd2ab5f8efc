"""Text-to-image on Hugging Face Inference (``IMAGE_BACKEND=hf``, key ``HF_TOKEN``)."""

from __future__ import annotations

from workers.kit.backend import Call, Result
from workers.kit.contract import FieldSpec
from workers.kit.media import encode_png
from workers.kit.remote import HFInferenceBackend

#: Options of every image backend.
IMAGE_OPTIONS: dict[str, FieldSpec] = {
    "width": FieldSpec(type="integer", default=512, minimum=64, maximum=1024, description="Width in pixels"),
    "height": FieldSpec(
        type="integer", default=512, minimum=64, maximum=1024, description="Height in pixels"
    ),
    "seed": FieldSpec(type="integer", minimum=0, maximum=2**32 - 1, description="Same seed, same picture"),
}


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
