"""``join_audio``: narration clips → one WAV track, with a short pause between clips.

A pure gateway transform (no worker, no model): it reads each clip through the one storage interface, a chunk
of frames at a time, converts it to the first clip's format where they differ (sample width to 16-bit PCM,
channels mixed or copied, sample rate by linear interpolation — plenty for speech), and writes the joined
track to a scratch file that is then stored at ``jobs/<job>/<step>/<name>.wav``. No clip and no output is
ever held whole in memory: a clip on object storage is copied to a local scratch file first, then streamed.

WAV (PCM 8/16/24/32-bit) is read with the standard library; other formats (FLAC, MP3, OGG — what a remote
TTS may answer) are decoded with PyAV when it is installed (it comes with the ``local`` extra), otherwise
refused with a message saying so.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import os
import tempfile
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import numpy as np

from gateway.transforms import ListOf, Transform, TransformCall, TransformError
from workers.kit.contract import FieldSpec, FileRef
from workers.kit.storage import CHUNK_BYTES, FileStorage, ObjectNotFound

#: Silence between two clips, in seconds (a breath between paragraphs).
DEFAULT_PAUSE_SECONDS = 0.6
#: The most clips one job may join (a story has at most a few dozen segments).
MAX_CLIPS = 200
#: Frames read per step while streaming a clip.
FRAMES_PER_READ = 32_768
#: Output sample width: 16-bit PCM, what every browser and Piper speak.
OUT_WIDTH = 2


class JoinAudioError(ValueError):
    """The clips cannot be joined (not audio, a format nothing here decodes, no clips). Not retryable."""


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """Sample rate and channel count of a PCM stream."""

    rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class JoinedAudio:
    """The stored track: its file reference and where each clip starts and ends in it (seconds)."""

    ref: dict[str, Any]
    seconds: float
    spans: list[tuple[float, float]]


# --- decoding ----------------------------------------------------------------------------------------------


class _Clip:
    """One clip opened for streaming: its format and an iterator of float32 frames shaped (n, channels)."""

    def __init__(self, fmt: AudioFormat, frames: Iterator[np.ndarray]) -> None:
        self.format = fmt
        self.frames = frames


def _pcm_to_float(data: bytes, width: int, channels: int) -> np.ndarray:
    """Interleaved little-endian PCM bytes → float32 in [-1, 1), shaped (frames, channels)."""
    if width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = ints.astype(np.float32) / float(1 << 23)
    elif width == 4:
        samples = (np.frombuffer(data, dtype="<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    else:
        raise JoinAudioError(f"{width * 8}-bit WAV samples are not supported")
    return samples.reshape(-1, channels)


def _open_wav(path: Path) -> _Clip | None:
    """A PCM WAV clip, or None when the standard library cannot read this WAV flavour (e.g. float samples)."""
    try:
        reader = wave.open(str(path), "rb")  # noqa: SIM115 (closed by the frames generator)
    except (wave.Error, EOFError, OSError):
        return None
    width, channels, rate = reader.getsampwidth(), reader.getnchannels(), reader.getframerate()
    if rate <= 0 or channels <= 0 or width not in (1, 2, 3, 4):
        reader.close()
        return None

    def frames() -> Iterator[np.ndarray]:
        with reader:
            while data := reader.readframes(FRAMES_PER_READ):
                usable = len(data) - len(data) % (width * channels)
                if usable:
                    yield _pcm_to_float(data[:usable], width, channels)

    return _Clip(AudioFormat(rate, channels), frames())


def _open_with_av(path: Path, name: str) -> _Clip:
    """Any audio PyAV (FFmpeg) decodes, as float frames; refused when PyAV is not installed."""
    try:
        av = importlib.import_module("av")
    except ImportError as exc:
        raise JoinAudioError(
            f"{name} is not PCM WAV, and decoding other formats needs PyAV (the local extra)"
        ) from exc
    try:
        container = av.open(str(path))
        stream = container.streams.audio[0]
    except Exception as exc:  # PyAV raises its own family (FFmpegError, IndexError for no audio stream…)
        raise JoinAudioError(f"{name} is not audio that can be decoded ({exc})") from exc
    channels = stream.codec_context.channels or 1
    rate = stream.rate or stream.codec_context.sample_rate
    layout = "mono" if channels == 1 else "stereo"
    channels = min(channels, 2)
    resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)

    def frames() -> Iterator[np.ndarray]:
        with container:
            try:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        yield out.to_ndarray().reshape(-1, channels).astype(np.float32)
                for out in resampler.resample(None):
                    yield out.to_ndarray().reshape(-1, channels).astype(np.float32)
            except Exception as exc:
                raise JoinAudioError(f"{name} does not decode to the end ({exc})") from exc

    return _Clip(AudioFormat(int(rate), channels), frames())


def open_clip(path: Path, name: str) -> _Clip:
    """Open a local audio file for streaming: WAV with the standard library, anything else with PyAV."""
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" and (clip := _open_wav(path)) is not None:
        return clip
    return _open_with_av(path, name)


# --- converting --------------------------------------------------------------------------------------------


def _remix(frames: np.ndarray, channels: int) -> np.ndarray:
    """Frames with ``channels`` channels: mixed down to mono by averaging, or a mono channel copied."""
    have = frames.shape[1]
    if have == channels:
        return frames
    mono = frames.mean(axis=1, keepdims=True) if have > 1 else frames
    return mono if channels == 1 else np.repeat(mono, channels, axis=1)


class LinearResampler:
    """Streaming linear-interpolation resampler: feed chunks, get chunks, ``flush()`` at the end.

    Output sample ``k`` is the source signal at position ``k * src / dst``; the chunk boundaries do not show
    in the result (the last source frame of a chunk is kept for the next one).
    """

    def __init__(self, src_rate: int, dst_rate: int, channels: int) -> None:
        self.step = src_rate / dst_rate
        self.pos = 0.0  # position of the next output frame, in frames of ``self.buf``
        self.buf = np.zeros((0, channels), dtype=np.float32)

    def feed(self, frames: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, frames]) if len(self.buf) else frames
        last = len(self.buf) - 1  # interpolation needs frame floor(pos) + 1 to exist
        if last < 1 or self.pos >= last:
            return self.buf[:0]
        count = int(np.ceil((last - self.pos) / self.step))
        positions = self.pos + self.step * np.arange(count)
        out = self._interpolate(positions)
        self.pos += self.step * count
        keep = int(self.pos)
        self.buf = self.buf[keep:]
        self.pos -= keep
        return out

    def flush(self) -> np.ndarray:
        """The frames left at the very end: up to the source's last frame and on to its end (held), so
        ``n`` source frames make ``ceil(n * dst / src)`` output frames — a second stays a second."""
        if not len(self.buf) or self.pos >= len(self.buf):
            return self.buf[:0]
        count = int(np.ceil((len(self.buf) - self.pos) / self.step))
        positions = np.minimum(self.pos + self.step * np.arange(count), len(self.buf) - 1)
        out = self._interpolate(positions)
        self.buf = self.buf[:0]
        return out

    def _interpolate(self, positions: np.ndarray) -> np.ndarray:
        left = np.floor(positions).astype(np.int64)
        right = np.minimum(left + 1, len(self.buf) - 1)
        weight = (positions - left).astype(np.float32)[:, None]
        return self.buf[left] * (1.0 - weight) + self.buf[right] * weight


def converted(clip: _Clip, target: AudioFormat) -> Iterator[np.ndarray]:
    """The clip's frames in ``target``'s channel count and sample rate."""
    resampler = (
        LinearResampler(clip.format.rate, target.rate, target.channels)
        if clip.format.rate != target.rate
        else None
    )
    for frames in clip.frames:
        remixed = _remix(frames, target.channels)
        out = resampler.feed(remixed) if resampler else remixed
        if len(out):
            yield out
    if resampler is not None and len(tail := resampler.flush()):
        yield tail


def to_pcm16(frames: np.ndarray) -> bytes:
    """Float frames → interleaved little-endian 16-bit PCM (clipped, not wrapped)."""
    return (np.clip(frames, -1.0, 32767 / 32768) * 32768.0).round().astype("<i2").tobytes()


# --- joining -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def local_copy(storage: FileStorage, key: str, scratch: Path) -> Iterator[Path]:
    """A local path holding the file at ``key``: its own path on a directory store, else a scratch copy."""
    own = storage.local_path(key)
    if own is not None:
        if not own.is_file():
            raise JoinAudioError(f"{key} is gone from the file storage")
        yield own
        return
    fd, name = tempfile.mkstemp(dir=scratch, prefix="join-", suffix=".clip")
    os.close(fd)
    path = Path(name)
    try:
        try:
            storage.fetch(key, path)
        except ObjectNotFound:
            raise JoinAudioError(f"{key} is gone from the file storage") from None
        yield path
    finally:
        path.unlink(missing_ok=True)


def _sha256_and_size(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def join_audio(
    storage: FileStorage,
    clips: Sequence[str],
    key: str,
    *,
    pause_seconds: float = DEFAULT_PAUSE_SECONDS,
) -> JoinedAudio:
    """Join the audio files at the keys ``clips`` (in order) into one 16-bit WAV stored at ``key``.

    The track takes the first clip's sample rate and channel count; the others are converted to it.
    ``pause_seconds`` of silence go between clips (not before the first or after the last).
    Raises :class:`JoinAudioError` for input that cannot be joined, storage errors as they are.
    """
    if not clips:
        raise JoinAudioError("there are no clips to join")
    if len(clips) > MAX_CLIPS:
        raise JoinAudioError(f"{len(clips)} clips is more than the {MAX_CLIPS} one track may join")
    if not 0 <= pause_seconds <= 10:
        raise JoinAudioError(f"pause_seconds must be between 0 and 10, got {pause_seconds:g}")
    scratch = storage.scratch_dir
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=scratch, prefix="join-", suffix=".wav")
    os.close(fd)
    out_path = Path(name)
    try:
        writer = _TrackWriter(out_path, pause_seconds)
        try:
            for number, clip_key in enumerate(clips):
                with local_copy(storage, clip_key, scratch) as path:
                    writer.add(open_clip(path, f"clip {number} ({clip_key})"))
        finally:
            writer.close()
        if writer.frames == 0:
            raise JoinAudioError("the clips hold no audio")
        sha256, size = _sha256_and_size(out_path)
        storage.put_file(key, out_path, content_type="audio/wav", move=True)
    except (wave.Error, EOFError) as exc:
        raise JoinAudioError(f"a clip is not readable audio ({exc})") from exc
    finally:
        out_path.unlink(missing_ok=True)
    ref = {"file": key, "content_type": "audio/wav", "bytes": size, "sha256": sha256}
    return JoinedAudio(ref=ref, seconds=writer.seconds, spans=writer.spans)


class _TrackWriter:
    """The joined track being written: the first clip fixes its format; a pause goes before each later clip."""

    def __init__(self, path: Path, pause_seconds: float) -> None:
        self.path = path
        self.pause_seconds = pause_seconds
        self.format: AudioFormat | None = None
        self.frames = 0
        self.spans: list[tuple[float, float]] = []
        self._out: wave.Wave_write | None = None

    @property
    def seconds(self) -> float:
        return round(self.frames / self.format.rate, 3) if self.format else 0.0

    def add(self, clip: _Clip) -> None:
        if self._out is None or self.format is None:
            self.format = clip.format
            self._out = wave.open(str(self.path), "wb")  # noqa: SIM115 (closed by close())
            self._out.setnchannels(self.format.channels)
            self._out.setsampwidth(OUT_WIDTH)
            self._out.setframerate(self.format.rate)
        elif self.pause_seconds:
            silence = round(self.pause_seconds * self.format.rate)
            self._out.writeframesraw(bytes(silence * self.format.channels * OUT_WIDTH))
            self.frames += silence
        start = self.frames
        for frames in converted(clip, self.format):
            self._out.writeframesraw(to_pcm16(frames))
            self.frames += len(frames)
        self.spans.append((start / self.format.rate, self.frames / self.format.rate))

    def close(self) -> None:
        """Finish the header (frame count) and close the file."""
        if self._out is not None:
            self._out.close()


# --- the transform -----------------------------------------------------------------------------------------


async def _run(call: TransformCall) -> dict[str, Any]:
    keys = []
    for number, clip in enumerate(call.inputs.get("clips") or []):
        if not FileRef.looks_like(clip):
            raise TransformError("Cannot join the audio", f"clips[{number}] is not a file")
        keys.append(str(clip["file"]))
    work = functools.partial(
        join_audio,
        call.storage,
        keys,
        call.key("audio", "wav"),
        pause_seconds=float(call.options["pause_seconds"]),
    )
    try:
        joined = await anyio.to_thread.run_sync(work)
    except JoinAudioError as exc:
        raise TransformError("Cannot join the audio", str(exc)) from None
    return {"audio": joined.ref, "seconds": joined.seconds}


TRANSFORM = Transform(
    name="join_audio",
    description="Join audio clips, in order, into one WAV track with a short pause between them",
    inputs={
        "clips": ListOf(
            FieldSpec(type="audio", required=True), description="The clips in the order they are heard"
        )
    },
    options={
        "pause_seconds": FieldSpec(
            type="number",
            default=DEFAULT_PAUSE_SECONDS,
            minimum=0,
            maximum=10,
            description="Silence between two clips",
        )
    },
    outputs={
        "audio": FieldSpec(type="audio", required=True, description="The joined track (16-bit PCM WAV)"),
        "seconds": FieldSpec(type="number", required=True, description="How long the track is"),
    },
    run=_run,
)
