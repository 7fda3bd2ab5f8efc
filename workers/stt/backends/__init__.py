"""The stt worker's backends, by ``STT_BACKEND`` name."""

from __future__ import annotations

from collections.abc import Mapping

from workers.kit.backend import BackendFactory, Call, LocalEngineBackend, Result
from workers.stt.backends.remote import HFSpeechRecognitionBackend


class LocalSTTBackend(LocalEngineBackend):
    """Whisper tiny.en on faster-whisper (``workers/stt/backends/local.py``)."""

    engine_module = "workers.stt.backends.local"
    engine_class = "LocalSTT"

    def run(self, call: Call) -> Result:
        with self.engine_errors():
            transcript = self.engine.transcribe(call.inputs["audio"].path)
        return Result(outputs={"text": transcript.text, "language": transcript.language})


BACKENDS: Mapping[str, BackendFactory] = {"hf": HFSpeechRecognitionBackend, "local": LocalSTTBackend}
