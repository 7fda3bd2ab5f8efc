"""Image-to-image on Hugging Face Inference (``CYCLEGAN_BACKEND=hf``, key ``HF_TOKEN``)."""

from __future__ import annotations

from PIL import Image

from workers.kit.backend import Call, Result
from workers.kit.contract import FieldSpec
from workers.kit.media import encode_png
from workers.kit.remote import HFInferenceBackend

DEFAULT_STYLE = "an impressionist oil painting"


class HFImageToImageBackend(HFInferenceBackend):
    """``InferenceClient.image_to_image`` with the style as the prompt; the answer is resized to the input's size."""

    default_model = "timbrooks/instruct-pix2pix"

    def options(self) -> dict[str, FieldSpec]:
        return {
            "style": FieldSpec(
                type="text",
                default=DEFAULT_STYLE,
                max_length=100,
                description="Style, in words, when no input",
            )
        }

    def run(self, call: Call) -> Result:
        source: Image.Image = call.inputs["image"]
        style = call.inputs.get("style") or call.options["style"]
        with self.calling():
            image = self.client.image_to_image(
                encode_png(source), model=self.model_url, prompt=f"Turn this into {style}"
            )
        if image.size != source.size:
            image = image.resize(source.size, Image.Resampling.LANCZOS)
        return Result(
            outputs={"image": call.outputs.write("image", encode_png(image.convert("RGB")), "image/png")}
        )
