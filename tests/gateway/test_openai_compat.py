"""The OpenAI-compatible endpoints as a real client sees them: the official ``openai`` SDK pointed with
``base_url`` at a gateway listening on a local port (uvicorn), with the fake worker behind it. Each call is
a job in the caller's history; errors arrive as the SDK's exception types, from OpenAI's envelope."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import openai
import pytest
from gateway_fakes import Behaviour
from test_gateway_auth import new_key

from gateway.store import create_engine
from gateway.store.db import write_tx
from gateway.store.models import EVENTS, utcnow
from workers.kit.testing import wav_bytes

pytestmark = pytest.mark.anyio

Live = Callable[..., Awaitable[str]]


@pytest.fixture
async def live(live_gateway) -> AsyncIterator[Live]:
    """Start real gateways; the starter returns the base URL the SDK takes (``…/v1``). SDK clients made
    with :func:`sdk` are closed before the servers stop."""

    async def start(**overrides: Any) -> str:
        return f"{await live_gateway(**overrides)}/v1"

    yield start
    while _CLIENTS:
        await _CLIENTS.pop().close()


_CLIENTS: list[openai.AsyncOpenAI] = []


def sdk(base_url: str, key: str = "not-checked-while-auth-is-off") -> openai.AsyncOpenAI:
    """An SDK client as a user makes one (no retries, so a refusal is seen at once); closed by ``live``."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)
    _CLIENTS.append(client)
    return client


async def history(base_url: str, key: str | None = None) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=base_url.removesuffix("/v1")) as client:
        return (await client.get("/v1/jobs", headers=headers)).json()["items"]  # type: ignore[no-any-return]


async def test_a_chat_answer_is_a_job_in_the_history(live, fake_worker):
    fake_worker.plan["answer"] = Behaviour(text="Paris is the capital of France.")
    base = await live()
    client = sdk(base)
    answer = await client.chat.completions.create(
        model="default",
        messages=[
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        temperature=0.2,
        max_tokens=50,
    )
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == "Paris is the capital of France."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.total_tokens == 5  # the fake's 3 in + 2 out
    [job] = await history(base)
    assert answer.id == f"chatcmpl-{job['id']}"
    assert job["pipeline"] == "text_to_text" and job["status"] == "succeeded"
    assert job["inputs"] == {
        "text": "What is the capital of France?",
        "instruction": "Answer in one sentence.",
    }


async def test_a_pipeline_name_is_a_model_and_a_conversation_becomes_a_transcript(live):
    client = sdk(await live())
    answer = await client.chat.completions.create(
        model="chain",
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": [{"type": "text", "text": "how are you?"}]},
        ],
    )
    expected = "User: hi\n\nAssistant: hello\n\nUser: how are you?\n\nAssistant:>one>two>three"
    assert answer.choices[0].message.content == expected


async def test_a_streamed_answer_without_deltas_arrives_as_one_chunk(live, fake_worker):
    fake_worker.plan["answer"] = Behaviour(text="A whole answer.")
    client = sdk(await live())
    stream = await client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "Say something"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "A whole answer."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


async def test_a_streamed_answer_follows_the_steps_deltas(live, fake_worker, database_url):
    """``step.delta`` events of the answer step (as a streaming runner writes them) become content chunks
    as they are written; what the deltas did not cover follows from the final output."""
    release = asyncio.Event()
    fake_worker.plan["answer"] = Behaviour(block=release, text="Hello there, friend.")
    client = sdk(await live())
    stream = await client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "greet me"}], stream=True
    )
    await fake_worker.wait_for_call("answer")
    [job] = await history(str(client.base_url).rstrip("/"))
    engine = create_engine(database_url)
    pieces = []
    try:
        for piece in ("Hello", " there", ","):
            async with write_tx(engine) as conn:
                await conn.execute(
                    EVENTS.insert().values(
                        job_id=job["id"],
                        tenant_id="default",
                        type="step.delta",
                        step_id="answer",
                        detail=piece,
                        at=utcnow(),
                    )
                )
            chunk = await anext(aiter(stream))
            while not chunk.choices[0].delta.content:  # the opening role chunk
                chunk = await anext(aiter(stream))
            pieces.append(chunk.choices[0].delta.content)
        release.set()
        pieces += [c.choices[0].delta.content or "" async for c in stream]
    finally:
        await engine.dispose()
    assert pieces[:3] == ["Hello", " there", ","]  # one chunk per delta, in order, before the job ended
    assert "".join(pieces) == "Hello there, friend."


async def test_the_stream_on_the_wire_keeps_alive_and_ends_with_done(live, fake_worker):
    release = asyncio.Event()
    fake_worker.plan["answer"] = Behaviour(block=release, text="ok")
    base = await live(sse_ping_seconds=0.05, wait_poll_seconds=0.05)
    body = {"model": "default", "messages": [{"role": "user", "content": "x"}], "stream": True}
    lines = []
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        http.stream("POST", "/chat/completions", json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["modaline-job-id"]
        async for line in response.aiter_lines():
            lines.append(line)
            if line == ": keep-alive":
                release.set()
    assert ": keep-alive" in lines  # while the job ran, with no text to send
    data = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert [json.loads(item)["choices"][0]["delta"].get("content") for item in data[:-1]] == ["", "ok", None]


async def test_a_transcription_of_a_wav(live):
    client = sdk(await live())
    recording = wav_bytes(0.5, 16000)
    answer = await client.audio.transcriptions.create(
        model="default", file=("hello.wav", recording, "audio/wav")
    )
    assert answer.text == f"heard {len(recording)} bytes"
    text = await client.audio.transcriptions.create(
        model="speech_to_text", file=("hello.wav", recording), response_format="text"
    )
    assert text == f"heard {len(recording)} bytes"
    verbose = await client.audio.transcriptions.create(
        model="default", file=("hello.wav", recording), response_format="verbose_json"
    )
    assert verbose.language == "en" and verbose.duration == pytest.approx(0.5, abs=0.01)


async def test_speech_bytes_decode_as_wav(live):
    base = await live()
    client = sdk(base)
    response = await client.audio.speech.create(
        model="default", voice="alloy", input="Hello from Modaline", response_format="wav"
    )
    data = response.read()
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getnframes() > 0 and reader.getframerate() == 8000
    [job] = await history(base)
    assert job["pipeline"] == "text_to_speech" and job["inputs"] == {"text": "Hello from Modaline"}


async def test_an_image_as_b64_json_and_as_a_url(live):
    base = await live()
    client = sdk(base)
    answer = await client.images.generate(prompt="a red fox", response_format="b64_json")
    png = base64.b64decode(answer.data[0].b64_json or "")
    assert png.startswith(b"\x89PNG")
    assert answer.data[0].revised_prompt == "a red fox>prompt"  # the pipeline's rewritten prompt
    linked = await client.images.generate(model="text_to_image", prompt="a red fox")
    url = linked.data[0].url or ""
    assert url.startswith(base.removesuffix("/v1") + "/v1/files/")
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).content == png


async def test_models_list_default_and_every_pipeline(live):
    client = sdk(await live())
    ids = [model.id async for model in client.models.list()]
    assert ids[0] == "default" and {"text_to_text", "speech_to_text", "chain"} <= set(ids)
    assert (await client.models.retrieve("text_to_speech")).id == "text_to_speech"
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("gpt-4o")
    assert caught.value.status_code == 404 and caught.value.code == "model_not_found"


async def test_errors_are_sdk_exceptions_with_openais_envelope(live, fake_worker):
    client = sdk(await live())
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert unknown.value.code == "model_not_found" and unknown.value.param == "model"
    assert unknown.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as unfit:
        await client.chat.completions.create(
            model="text_to_speech", messages=[{"role": "user", "content": "x"}]
        )
    assert unfit.value.code == "model_not_supported"
    with pytest.raises(openai.BadRequestError) as invalid:
        await client.chat.completions.create(model="default", messages=[])
    assert invalid.value.status_code == 400 and invalid.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as mp3:
        await client.audio.speech.create(model="default", voice="alloy", input="hi")
    assert mp3.value.code == "unsupported_response_format" and mp3.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as voice:
        await client.audio.speech.create(model="default", voice="darth", input="hi", response_format="wav")
    assert voice.value.code == "unsupported_voice"
    with pytest.raises(openai.InternalServerError) as other_format:  # the fake tts makes WAV, not FLAC
        await client.audio.speech.create(model="default", voice="alloy", input="hi", response_format="flac")
    assert other_format.value.code == "unsupported_response_format" and "'wav'" in other_format.value.message
    with pytest.raises(openai.BadRequestError) as srt:
        await client.audio.transcriptions.create(
            model="default", file=("a.wav", wav_bytes(0.1, 8000)), response_format="srt"
        )
    assert srt.value.param == "response_format"
    fake_worker.plan["answer"] = Behaviour(fail_times=10, retryable=False, status=422)
    with pytest.raises(openai.InternalServerError) as failed:
        await client.chat.completions.create(model="default", messages=[{"role": "user", "content": "x"}])
    assert failed.value.status_code == 502 and failed.value.code == "job_failed"
    assert failed.value.response.headers["x-should-retry"] == "false"


async def test_a_failed_job_mid_stream_ends_it_with_an_error(live, fake_worker):
    fake_worker.plan["answer"] = Behaviour(fail_times=10, retryable=False, status=422)
    client = sdk(await live())
    stream = await client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError, match="failed"):
        async for _ in stream:
            pass


async def test_auth_errors_limits_and_tenants_under_keys(live, database_url):
    base = await live(auth="keys", signing_key="test-signing-key-1", limit_submits_per_minute=2)
    acme = await new_key(database_url, "acme")
    reader = await new_key(database_url, "acme", "jobs:read")
    globex = await new_key(database_url, "globex")
    with pytest.raises(openai.AuthenticationError) as missing:
        await sdk(base, "mdl_" + "x" * 43).models.list()
    assert missing.value.status_code == 401 and missing.value.code == "invalid_api_key"
    assert missing.value.body["message"].startswith("Unauthorized")  # type: ignore[index]
    readable = [m.id async for m in sdk(base, reader).models.list()]
    assert readable[0] == "default"
    with pytest.raises(openai.PermissionDeniedError) as scope:
        await sdk(base, reader).chat.completions.create(
            model="default", messages=[{"role": "user", "content": "x"}]
        )
    assert scope.value.status_code == 403 and "jobs:write" in scope.value.message
    client = sdk(base, acme)
    image = await client.images.generate(prompt="a fox")
    assert "signature=" in (image.data[0].url or "")  # a signed URL: it works without a key
    async with httpx.AsyncClient() as http:
        assert (await http.get(image.data[0].url or "")).content.startswith(b"\x89PNG")
    await client.chat.completions.create(model="default", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="default", messages=[{"role": "user", "content": "x"}])
    assert limited.value.status_code == 429 and limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"]
    assert {job["pipeline"] for job in await history(base, acme)} == {"text_to_image", "text_to_text"}
    assert await history(base, globex) == []  # nothing of acme's reaches another tenant


async def test_native_routes_keep_problem_json(live):
    base = await live()
    async with httpx.AsyncClient(base_url=base.removesuffix("/v1")) as http:
        native = await http.post("/v1/jobs", json={"pipeline": "nope"})
        openai_side = await http.post("/v1/chat/nope", json={})
    assert native.status_code == 404 and native.headers["content-type"].startswith("application/problem+json")
    assert openai_side.status_code == 404 and set(openai_side.json()) == {"error"}
