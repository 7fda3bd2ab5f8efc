"""Audio helpers of the transform tests: tones, WAV bytes in several sample widths, and reading them back."""

from __future__ import annotations

import io
import wave

import numpy as np


def tone(
    seconds: float, rate: int, *, freq: float = 440.0, channels: int = 1, amplitude: float = 0.5
) -> np.ndarray:
    """A sine tone as float frames shaped (n, channels)."""
    t = np.arange(round(seconds * rate)) / rate
    mono = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def wav_bytes(frames: np.ndarray, rate: int, *, width: int = 2) -> bytes:
    """Float frames as a PCM WAV of ``width`` bytes per sample."""
    channels = frames.shape[1]
    if width == 1:
        data = (np.clip(frames, -1, 0.99) * 128 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        data = (np.clip(frames, -1, 0.9999) * 32768).astype("<i2").tobytes()
    elif width == 3:
        ints = (np.clip(frames, -1, 0.9999) * (1 << 23)).astype("<i4").reshape(-1)
        data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    else:
        data = (np.clip(frames, -1, 0.9999) * (1 << 31)).astype("<i4").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(data)
    return buf.getvalue()


def read_wav(data: bytes) -> tuple[int, int, int, np.ndarray]:
    """(rate, channels, width, float frames) of a WAV."""
    with wave.open(io.BytesIO(data), "rb") as reader:
        rate, channels, width = reader.getframerate(), reader.getnchannels(), reader.getsampwidth()
        raw = reader.readframes(reader.getnframes())
    assert width == 2
    return (
        rate,
        channels,
        width,
        (np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768).reshape(-1, channels),
    )


def dominant_hz(frames: np.ndarray, rate: int) -> float:
    """The strongest frequency of the first channel."""
    spectrum = np.abs(np.fft.rfft(frames[:, 0]))
    return float(np.fft.rfftfreq(len(frames), 1 / rate)[int(np.argmax(spectrum))])
