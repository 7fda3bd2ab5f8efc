"""faster-whisper STT: transcribes real speech in WAV and compressed formats; refuses non-audio."""

from __future__ import annotations

import re
import wave
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import pytest

pytestmark = pytest.mark.engines


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalize(reference), normalize(hypothesis)))


def transcode(source: Path, target: Path, codec: str, rate: int) -> Path:
    """Re-encode ``source`` with PyAV (the same FFmpeg faster-whisper decodes with)."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream: Any = dst.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for frame in src.decode(audio=0):
            for out in resampler.resample(frame):
                dst.mux(stream.encode(out))
        for out in resampler.resample(None):
            dst.mux(stream.encode(out))
        dst.mux(stream.encode(None))
    return target


def test_tts_to_stt_round_trip_keeps_the_words(stt: Any, speech_wav: Path, speech_text: str) -> None:
    transcript = stt.transcribe(speech_wav)

    assert transcript.language == "en"
    wer = word_error_rate(speech_text, transcript.text)
    assert wer <= 0.2, f"WER {wer:.2f}: {transcript.text!r}"


@pytest.mark.parametrize(
    ("suffix", "codec", "rate"),
    [
        ("mp3", "libmp3lame", 22050),
        ("ogg", "libopus", 48000),
        ("flac", "flac", 22050),
        ("webm", "libopus", 48000),
    ],
)
def test_reads_compressed_audio(
    stt: Any, speech_wav: Path, speech_text: str, tmp_path: Path, suffix: str, codec: str, rate: int
) -> None:
    encoded = transcode(speech_wav, tmp_path / f"speech.{suffix}", codec, rate)
    assert encoded.stat().st_size < speech_wav.stat().st_size

    wer = word_error_rate(speech_text, stt.transcribe(encoded).text)
    assert wer <= 0.2, f"{suffix}: WER {wer:.2f}"


def test_quiet_noise_gives_no_invented_words(stt: Any, tmp_path: Path) -> None:
    path = tmp_path / "room-tone.wav"
    noise = np.random.default_rng(0).normal(0, 30, 16_000 * 3).astype(np.int16)  # ~-60 dBFS hiss
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(noise.tobytes())

    assert len(stt.transcribe(path).text.split()) <= 2


def test_lossless_flac_decodes_to_the_same_samples_as_wav(stt: Any, speech_wav: Path, tmp_path: Path) -> None:
    from workers.stt.backends.local import decode

    flac = transcode(speech_wav, tmp_path / "speech.flac", "flac", 22050)
    wav_samples, flac_samples = decode(speech_wav), decode(flac)

    assert abs(len(wav_samples) - len(flac_samples)) < 160  # within 10 ms
    n = min(len(wav_samples), len(flac_samples))
    assert np.abs(wav_samples[:n] - flac_samples[:n]).max() < 1e-3


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.wav", b"this is plainly not audio, just some text in a file " * 20),
        ("empty.mp3", b""),
        ("random.ogg", bytes(range(256)) * 64),
    ],
)
def test_undecodable_audio_is_a_value_error(stt: Any, tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=name):
        stt.transcribe(path)


def test_missing_file_is_a_value_error(stt: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        stt.transcribe(tmp_path / "nope.wav")
