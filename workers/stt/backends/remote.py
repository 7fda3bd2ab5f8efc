"""Speech recognition on Hugging Face Inference (``STT_BACKEND=hf``, key ``HF_TOKEN``)."""

from __future__ import annotations

from workers.kit.backend import Call, Result
from workers.kit.errors import UpstreamError
from workers.kit.media import AudioInput
from workers.kit.remote import HF_NAME, HFInferenceBackend


class HFSpeechRecognitionBackend(HFInferenceBackend):
    """``InferenceClient.automatic_speech_recognition``: raw audio bytes in, ``{"text"}`` out."""

    default_model = "openai/whisper-large-v3-turbo"

    def run(self, call: Call) -> Result:
        audio: AudioInput = call.inputs["audio"]
        with self.calling():
            answer = self.client.automatic_speech_recognition(audio.read_bytes(), model=self.model_url)
        if answer.text is None:
            problem = getattr(answer, "error", None) or "no 'text' in the answer"
            raise UpstreamError(f"{HF_NAME} returned no transcript: {problem}")
        return Result(outputs={"text": answer.text.strip(), "language": None})
