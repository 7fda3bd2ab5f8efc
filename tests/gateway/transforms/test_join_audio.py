"""join_audio: narration clips become one WAV track with pauses, whatever format each clip came in.

Every test that takes ``storage`` runs on a directory store and on an S3 bucket (moto)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import tracemalloc

import numpy as np
import pytest
from media_helpers import dominant_hz, read_wav, tone, wav_bytes

from gateway.transforms.join_audio import (
    JoinAudioError,
    LinearResampler,
    join_audio,
)
from workers.kit.storage import FileStorage


def _store(storage: FileStorage, key: str, data: bytes) -> str:
    storage.put_bytes(key, data, content_type="audio/wav")
    return key


def _read(storage: FileStorage, key: str) -> bytes:
    return b"".join(storage.read_chunks(key))


def test_clips_in_one_format_are_joined_sample_exact_with_pauses_between(storage: FileStorage) -> None:
    rate = 22050
    clips = [tone(0.5, rate, freq=300), tone(0.25, rate, freq=600), tone(0.4, rate, freq=900)]
    keys = [_store(storage, f"jobs/j/speak[{i}]/audio.wav", wav_bytes(c, rate)) for i, c in enumerate(clips)]

    joined = join_audio(storage, keys, "jobs/j/narrate/audio.wav", pause_seconds=0.5)

    data = _read(storage, "jobs/j/narrate/audio.wav")
    assert joined.ref["file"] == "jobs/j/narrate/audio.wav"
    assert joined.ref["content_type"] == "audio/wav"
    assert joined.ref["bytes"] == len(data)
    assert joined.ref["sha256"] == hashlib.sha256(data).hexdigest()
    out_rate, channels, _, frames = read_wav(data)
    assert (out_rate, channels) == (rate, 1)
    pause = round(0.5 * rate)
    assert len(frames) == sum(len(c) for c in clips) + 2 * pause
    # each clip is there unchanged (16-bit in, 16-bit out), silence between them
    start = 0
    for clip, (span_start, span_end) in zip(clips, joined.spans, strict=True):
        piece = frames[start : start + len(clip)]
        original = read_wav(wav_bytes(clip, rate))[3]
        assert np.array_equal(piece, original)
        assert span_start == pytest.approx(start / rate)
        assert span_end == pytest.approx((start + len(clip)) / rate)
        start += len(clip)
        if start < len(frames):
            assert not frames[start : start + pause].any()
            start += pause
    assert joined.seconds == pytest.approx(len(frames) / rate, abs=1e-3)


def test_clips_in_other_formats_are_converted_to_the_first_ones(storage: FileStorage) -> None:
    """Rate, channels and sample width may differ (another TTS voice or backend): the track takes the first
    clip's format, and a converted clip keeps its length and its pitch."""
    first = tone(0.3, 22050, freq=500)
    keys = [
        _store(storage, "c/0.wav", wav_bytes(first, 22050)),
        _store(storage, "c/1.wav", wav_bytes(tone(1.0, 16000, freq=440, channels=2), 16000, width=1)),
        _store(storage, "c/2.wav", wav_bytes(tone(1.0, 44100, freq=440), 44100, width=3)),
        _store(storage, "c/3.wav", wav_bytes(tone(1.0, 8000, freq=440, channels=2), 8000, width=4)),
    ]

    joined = join_audio(storage, keys, "jobs/j/narrate/audio.wav", pause_seconds=0.2)

    rate, channels, _, frames = read_wav(_read(storage, "jobs/j/narrate/audio.wav"))
    assert (rate, channels) == (22050, 1)
    for start, end in joined.spans[1:]:
        piece = frames[round(start * rate) : round(end * rate)]
        assert len(piece) == pytest.approx(rate, abs=2)  # one second stays one second
        assert dominant_hz(piece, rate) == pytest.approx(440, abs=3)
        assert np.abs(piece).max() == pytest.approx(0.5, abs=0.03)  # loudness kept (8-bit is coarse)


def test_a_mono_track_makes_later_stereo_clips_mono_and_a_stereo_track_copies_mono_clips(
    storage: FileStorage,
) -> None:
    left_only = np.zeros((8000, 2), dtype=np.float32)
    left_only[:, 0] = 0.5
    keys = [
        _store(storage, "s/0.wav", wav_bytes(tone(0.1, 8000, channels=2), 8000)),
        _store(storage, "s/1.wav", wav_bytes(left_only, 8000)),
        _store(storage, "s/2.wav", wav_bytes(tone(0.1, 8000, channels=1), 8000)),
    ]
    join_audio(storage, [keys[1], keys[0]], "o/mono.wav", pause_seconds=0)
    _, channels, _, frames = read_wav(_read(storage, "o/mono.wav"))
    assert channels == 2  # the first clip (left_only) is stereo

    join_audio(storage, [keys[2], keys[1]], "o/mono2.wav", pause_seconds=0)
    _, channels, _, frames = read_wav(_read(storage, "o/mono2.wav"))
    assert channels == 1
    assert frames[800:].mean() == pytest.approx(0.25, abs=1e-3)  # left 0.5 and right 0 mixed

    join_audio(storage, [keys[0], keys[2]], "o/stereo.wav", pause_seconds=0)
    _, channels, _, frames = read_wav(_read(storage, "o/stereo.wav"))
    assert channels == 2
    assert np.array_equal(frames[800:, 0], frames[800:, 1])


def test_resampling_in_chunks_gives_the_same_frames_as_in_one_piece() -> None:
    rng = np.random.default_rng(7)
    signal = rng.uniform(-1, 1, size=(10_007, 2)).astype(np.float32)
    for src, dst in ((22050, 16000), (16000, 22050), (44100, 22050), (8000, 48000)):
        whole = LinearResampler(src, dst, 2)
        expected = np.concatenate([whole.feed(signal), whole.flush()])
        chunked = LinearResampler(src, dst, 2)
        pieces, at = [], 0
        for size in (1, 2, 3, 500, 1, 4096, 7):
            pieces.append(chunked.feed(signal[at : at + size]))
            at += size
        pieces.append(chunked.feed(signal[at:]))
        pieces.append(chunked.flush())
        got = np.concatenate(pieces)
        assert got.shape == expected.shape
        assert np.allclose(got, expected, atol=1e-6)
        assert len(got) == pytest.approx(len(signal) * dst / src, abs=1)


def test_long_clips_are_streamed_not_held_in_memory(storage: FileStorage) -> None:
    """Three clips of ~13 MB each join with a small, fixed amount of memory."""
    rate = 44100
    clip = wav_bytes(tone(150, rate, freq=220), rate)  # 150 s of 16-bit mono ≈ 13 MB
    keys = [_store(storage, f"big/{i}.wav", clip) for i in range(3)]
    second = wav_bytes(tone(150, 32000, freq=220), 32000)  # a resampled one too
    keys.append(_store(storage, "big/3.wav", second))
    del clip, second

    tracemalloc.start()
    try:
        joined = join_audio(storage, keys, "big/joined.wav", pause_seconds=0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert joined.ref["bytes"] > 50_000_000
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB"


def test_clips_that_are_not_audio_or_missing_are_refused_naming_the_clip(storage: FileStorage) -> None:
    good = _store(storage, "x/0.wav", wav_bytes(tone(0.1, 8000), 8000))
    storage.put_bytes("x/1.png", b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png")
    with pytest.raises(JoinAudioError, match=r"clip 1 \(x/1.png\)"):
        join_audio(storage, [good, "x/1.png"], "x/out.wav")
    with pytest.raises(JoinAudioError, match=r"x/nothing\.wav"):
        join_audio(storage, [good, "x/nothing.wav"], "x/out.wav")
    with pytest.raises(JoinAudioError, match="no clips"):
        join_audio(storage, [], "x/out.wav")
    with pytest.raises(JoinAudioError, match="pause_seconds"):
        join_audio(storage, [good], "x/out.wav", pause_seconds=-1)
    assert not storage.exists("x/out.wav")
    assert not [p for p in storage.scratch_dir.iterdir() if p.name.startswith("join-")]


@pytest.mark.skipif(importlib.util.find_spec("av") is None, reason="PyAV comes with the local extra")
def test_a_flac_clip_from_a_remote_tts_is_decoded_with_pyav(storage: FileStorage) -> None:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=24000, layout="mono")
        samples = (tone(1.0, 24000, freq=440)[:, 0] * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = 24000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    keys = [_store(storage, "f/0.wav", wav_bytes(tone(0.2, 22050), 22050))]
    storage.put_bytes("f/1.flac", buf.getvalue(), content_type="audio/flac")
    keys.append("f/1.flac")

    joined = join_audio(storage, keys, "f/out.wav", pause_seconds=0)

    rate, _, _, frames = read_wav(_read(storage, "f/out.wav"))
    start, end = joined.spans[1]
    piece = frames[round(start * rate) : round(end * rate)]
    assert len(piece) == pytest.approx(rate, abs=3)
    assert dominant_hz(piece, rate) == pytest.approx(440, abs=3)
