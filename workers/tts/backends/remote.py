"""Text-to-speech on Hugging Face Inference (``TTS_BACKEND=hf``, key ``HF_TOKEN``)."""

from __future__ import annotations

from workers.kit.backend import Call, Result
from workers.kit.errors import UpstreamError
from workers.kit.media import sniff_audio
from workers.kit.remote import HFInferenceBackend


class HFTextToSpeechBackend(HFInferenceBackend):
    """``InferenceClient.text_to_speech``: JSON in, audio bytes out (stored in the format the model returns)."""

    default_model = "facebook/mms-tts-eng"

    def run(self, call: Call) -> Result:
        with self.calling():
            audio = self.client.text_to_speech(call.inputs["text"], model=self.model_url)
        content_type = sniff_audio(audio)
        if content_type is None:
            raise UpstreamError(f"Hugging Face Inference returned {len(audio)} bytes that are not audio")
        return Result(outputs={"audio": call.outputs.write("audio", audio, content_type)})
