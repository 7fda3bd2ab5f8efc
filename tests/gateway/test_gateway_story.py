"""The built-in text_to_story pipeline through the runner, on both databases, with the fake worker at the
HTTP boundary: per segment a prompt, a picture and a narration; joined narration; a storyboard."""

from __future__ import annotations

import io
import re
import wave

import pytest
from gateway_fakes import Behaviour
from gateway_helpers import submit, wait_for_job

pytestmark = pytest.mark.anyio

STORY = "A fox woke up. It was hungry! It found an apple. It ate the apple. Then it slept. The end."


def step(job: dict, step_id: str) -> dict:
    return next(s for s in job["steps"] if s["id"] == step_id)


async def _download(gateway, file: dict) -> bytes:
    response = await gateway.get(file["url"])
    assert response.status_code == 200
    assert len(response.content) == file["bytes"]
    return response.content


async def test_a_story_gets_a_picture_and_a_narration_per_segment_a_joined_track_and_a_storyboard(
    gateway, fake_worker
):
    fake_worker.plan["write"] = Behaviour(text=STORY)
    job = await submit(gateway, "text_to_story", text="a hungry fox", scenes=3, title="The fox")
    done = await wait_for_job(gateway, job["id"], within=30)
    assert done["status"] == "succeeded", done["error"]

    segments = done["outputs"]["segments"]
    assert len(segments) == 3  # at most `scenes`, whole sentences, nothing lost
    assert " ".join(s["text"] for s in segments) == STORY
    # each segment's picture and clip is the one its own item made (same file id, not a copy)
    for i, segment in enumerate(segments):
        assert segment["image"]["id"] == step(done, f"draw[{i}]")["outputs"]["image"]["id"]
        assert segment["audio"]["id"] == step(done, f"speak[{i}]")["outputs"]["audio"]["id"]
    # the picture was drawn from the item's own prompt, which saw its own segment
    assert fake_worker.step_calls("prompt-1") == 1
    prompt = step(done, "prompt[1]")["outputs"]["text"]
    assert prompt == f"Describe a picture for this part of a story: {segments[1]['text']}>prompt-1"

    # one track: three 0.2 s clips and two 0.6 s pauses
    narration = await _download(gateway, done["outputs"]["narration"])
    with wave.open(io.BytesIO(narration)) as track:
        seconds = track.getnframes() / track.getframerate()
    assert seconds == pytest.approx(3 * 0.2 + 2 * 0.6, abs=0.01)
    assert step(done, "narrate")["outputs"]["seconds"] == pytest.approx(seconds, abs=0.01)

    storyboard = done["outputs"]["storyboard"]
    assert storyboard["content_type"] == "text/html" and storyboard["kind"] == "other"
    html = (await _download(gateway, storyboard)).decode()
    assert "<title>The fox</title>" in html
    assert len(re.findall(r'<section class="slide"', html)) == 3
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    assert len(re.findall(r'src="data:audio/wav;base64,', html)) == 3
    assert step(done, "assemble")["worker"] == "transform:storyboard"
    assert step(done, "assemble")["backend"] == "gateway"


async def test_a_failing_model_tells_the_users_own_text_and_draws_the_segments_themselves(
    gateway, fake_worker
):
    """SmolLM2 offline is weak: when the story or a prompt fails, the on_error fallbacks keep it going."""
    fake_worker.plan["write"] = Behaviour(fail_times=9, retryable=False, status=422)
    fake_worker.plan["prompt-0"] = Behaviour(fail_times=9, retryable=False, status=422)
    own = "A cat sat on a mat. A dog came by."
    done = await wait_for_job(gateway, (await submit(gateway, "text_to_story", text=own))["id"], within=30)
    assert done["status"] == "succeeded", done["error"]
    assert done["outputs"]["story"] == own
    assert [s["text"] for s in done["outputs"]["segments"]] == ["A cat sat on a mat.", "A dog came by."]
    assert step(done, "write")["fallback"] is True
    assert step(done, "prompt[0]")["fallback"] is True
    assert step(done, "prompt[0]")["outputs"]["text"] == "A cat sat on a mat."


async def test_a_narration_that_is_not_audio_fails_the_join_naming_the_clip(gateway, fake_worker):
    """The join refuses what it cannot decode with a message, not a crash (the fake answers speak items
    with a PNG here)."""
    fake_worker.plan["write"] = Behaviour(text="One. Two.")
    original = fake_worker._outputs

    def outputs(path, body, behaviour):
        if body["step_id"] == "speak-1":
            png = fake_worker._write(
                body["job_id"], "speak-1", "audio.wav", b"\x89PNG\r\n\x1a\n" + bytes(40), "audio/wav"
            )
            return {"audio": png}
        return original(path, body, behaviour)

    fake_worker._outputs = outputs
    done = await wait_for_job(gateway, (await submit(gateway, "text_to_story", text="x"))["id"], within=30)
    assert done["status"] == "failed"
    assert done["error"]["step_id"] == "narrate"
    assert done["error"]["title"] == "Cannot join the audio"
    assert "clip 1" in done["error"]["detail"]


def test_files_passed_on_inside_a_list_are_not_registered_again() -> None:
    """A transform's list may repeat files earlier steps made (the story's segments): only the step's own
    files get files rows (a path is registered once)."""
    from datetime import UTC, datetime

    from gateway.runner.steps import output_files

    def ref(path: str) -> dict:
        return {"file": path, "content_type": "image/png", "bytes": 1, "sha256": "0" * 64}

    outputs = {
        "document": ref("jobs/j/assemble/storyboard.html"),
        "segments": [{"text": "a", "image": ref("jobs/j/draw-0/image.png")}],
        "extra": [ref("jobs/j/assemble/extra-0.png")],
    }
    rows = output_files("default", "j", "assemble", outputs, datetime.now(UTC), only_under="jobs/j/assemble")
    assert sorted(row["path"] for row in rows) == [
        "jobs/j/assemble/extra-0.png",
        "jobs/j/assemble/storyboard.html",
    ]
