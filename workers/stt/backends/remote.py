"""Speech recognition on Hugging Face Inference (``STT_BACKEND=hf``, key ``HF_TOKEN``)."""

from __future__ import annotations

from workers.kit.backend import Call, Result
from workers.kit.media import AudioInput
from workers.kit.remote import HFInferenceBackend


class HFSpeechRecognitionBackend(HFInferenceBackend):
    """``InferenceClient.automatic_speech_recognition``: raw audio bytes in, ``{"text"}`` out."""

    default_model = "openai/whisper-large-v3-turbo"

    def run(self, call: Call) -> Result:
        audio: AudioInput = call.inputs["audio"]
        with self.calling():
            answer = self.client.automatic_speech_recognition(audio.read_bytes(), model=self.model_url)
        return Result(outputs={"text": (answer.text or "").strip(), "language": None})
