"""The tts worker's backends, by ``TTS_BACKEND`` name."""

from __future__ import annotations

from collections.abc import Mapping

from workers.kit.backend import BackendFactory, Call, LocalEngineBackend, Result
from workers.kit.contract import FieldSpec
from workers.tts.backends.remote import HFTextToSpeechBackend


class LocalTTSBackend(LocalEngineBackend):
    """Piper with the en_US-joe-medium voice (``workers/tts/backends/local.py``)."""

    engine_module = "workers.tts.backends.local"
    engine_class = "LocalTTS"

    def options(self) -> dict[str, FieldSpec]:
        voices = list(getattr(self._engine, "voices", None) or []) or None
        return {
            "voice": FieldSpec(
                type="choice", choices=voices, description="Voice; the engine's default if unset"
            ),
            "speed": FieldSpec(
                type="number",
                default=1.0,
                minimum=0.5,
                maximum=2.0,
                description="Speaking rate; 1 is natural",
            ),
        }

    def run(self, call: Call) -> Result:
        with self.engine_errors():
            wav = self.engine.synthesize(call.inputs["text"], call.options["voice"], call.options["speed"])
        return Result(outputs={"audio": call.outputs.write("audio", wav, "audio/wav")})


BACKENDS: Mapping[str, BackendFactory] = {"hf": HFTextToSpeechBackend, "local": LocalTTSBackend}
