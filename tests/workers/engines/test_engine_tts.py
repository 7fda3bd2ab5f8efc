"""Piper TTS: a real, plausible WAV for real text, and clear errors for bad input."""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.engines


def read_wav(data: bytes) -> tuple[Any, np.ndarray]:
    with wave.open(io.BytesIO(data)) as wav:
        params = wav.getparams()
        samples = np.frombuffer(wav.readframes(params.nframes), dtype=np.int16)
    return params, samples


def test_speaks_a_sentence_as_a_valid_wav_of_plausible_length(tts: Any) -> None:
    text = "Hello there, this is a short test of the offline voice."  # 11 words
    data = tts.synthesize(text, None, 1.0)

    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    params, samples = read_wav(data)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 22050)
    seconds = params.nframes / params.framerate
    assert 11 * 0.15 < seconds < 11 * 0.8, f"{seconds:.2f} s for 11 words"
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert rms > 1000, "audio is (nearly) silent"
    # speech has pauses: a good share of 20 ms windows are much quieter than the loudest ones
    windows = samples[: len(samples) // 441 * 441].reshape(-1, 441).astype(np.float64)
    energy = np.sqrt((windows**2).mean(axis=1))
    assert (energy < energy.max() * 0.1).mean() > 0.05


def test_the_named_voice_is_the_default_voice(tts: Any) -> None:
    assert tts.voices == ["en_US-joe-medium"]
    a = read_wav(tts.synthesize("Good morning.", "en_US-joe-medium", 1.0))[0].nframes
    b = read_wav(tts.synthesize("Good morning.", None, 1.0))[0].nframes
    assert abs(a - b) / b < 0.25  # same voice; Piper's duration noise varies lengths slightly


def test_speed_changes_the_duration(tts: Any) -> None:
    text = "One two three four five six seven eight nine ten."
    normal = read_wav(tts.synthesize(text, None, 1.0))[0].nframes
    fast = read_wav(tts.synthesize(text, None, 2.0))[0].nframes
    slow = read_wav(tts.synthesize(text, None, 0.5))[0].nframes
    assert fast < normal * 0.8
    assert slow > normal * 1.4


@pytest.mark.parametrize(
    ("text", "voice", "speed", "message"),
    [
        ("", None, 1.0, "empty"),
        ("   \n", None, 1.0, "empty"),
        ("Hello.", "en_GB-nobody-low", 1.0, "unknown voice"),
        ("Hello.", None, 0.0, "speed"),
        ("Hello.", None, 10.0, "speed"),
    ],
)
def test_bad_input_is_a_value_error(
    tts: Any, text: str, voice: str | None, speed: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tts.synthesize(text, voice, speed)
