"""``POST /v1/chat/completions``: a chat turn as a job of a text pipeline; ``stream: true`` follows the job's
events and sends the answer step's ``step.delta`` text as ``chat.completion.chunk``s (or the whole answer
as one chunk when the worker did not stream), then ``data: [DONE]``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.api.openai_compat.docs import JOB_HEADER, json_body, openai_errors, parse_body
from gateway.api.openai_compat.mapping import CHAT, pipeline_for
from gateway.api.openai_compat.runs import Calls, CallsDep, check_succeeded, job_headers
from gateway.api.openai_compat.shapes import ChatCompletionRequest, ChatMessage
from gateway.api.problems import openai_error_body
from gateway.errors import GatewayError, InvalidInputError
from gateway.pipelines import PipelineSpec
from gateway.store.events import events_after
from gateway.store.models import EventPublic, JobPublic

router = APIRouter(tags=["openai"])

_TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.canceled"})


def _text(message: ChatMessage) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    return "".join(part.text for part in message.content)


def chat_inputs(spec: PipelineSpec, messages: list[ChatMessage]) -> dict[str, Any]:
    """The pipeline inputs for a conversation: system and developer messages become the ``instruction``
    (when the pipeline takes one; else they lead the text); one user message is the text itself; a longer
    conversation is given as a transcript, ending with the last turn."""
    system = "\n\n".join(_text(m) for m in messages if m.role in ("system", "developer") and _text(m))
    turns = [m for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InvalidInputError(
            "messages must end with a user message",
            errors=[{"field": "messages", "message": "must end with a user message"}],
        )
    if len(turns) == 1:
        text = _text(turns[0])
    else:
        text = "\n\n".join(f"{m.role.capitalize()}: {_text(m)}" for m in turns) + "\n\nAssistant:"
    inputs: dict[str, Any] = {CHAT.input: text}
    if system:
        if "instruction" in spec.inputs:
            inputs["instruction"] = system
        else:
            inputs[CHAT.input] = f"{system}\n\n{text}"
    return inputs


def _usage(job: JobPublic) -> dict[str, int]:
    prompt, completion = job.usage.input_tokens, job.usage.output_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _answer(spec: PipelineSpec, job: JobPublic) -> str:
    output = CHAT.output(spec)
    value = job.outputs.get(output) if output else None
    return value if isinstance(value, str) else ""


def completion(model: str, spec: PipelineSpec, job: JobPublic) -> dict[str, Any]:
    """A ``chat.completion`` object for a succeeded job."""
    return {
        "id": f"chatcmpl-{job.id}",
        "object": "chat.completion",
        "created": int(job.created_at.timestamp()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _answer(spec, job), "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(job),
        "system_fingerprint": None,
    }


_CHUNK_SCHEMA = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "description": "A chat.completion.chunk as JSON (or an `error` envelope when the job fails), "
            "the last one `[DONE]`",
        }
    },
}


@router.post(
    "/v1/chat/completions",
    name="createChatCompletion",
    openapi_extra=json_body(ChatCompletionRequest),
    responses={
        200: {
            "description": "A chat.completion; with `stream: true` a text/event-stream of chunks",
            "headers": JOB_HEADER,
            "content": {
                "application/json": {"schema": {"type": "object", "required": ["id", "object", "choices"]}},
                "text/event-stream": {"schema": _CHUNK_SCHEMA},
            },
        },
        **openai_errors(400, 401, 403, 404, 413, 429, 502, 504),
    },
)
async def create_chat_completion(calls: CallsDep) -> Any:
    """OpenAI's chat completions over a text pipeline (``default``: ``text_to_text``)."""
    body = parse_body(ChatCompletionRequest, await calls.request.body())
    spec = pipeline_for(calls.registry, CHAT, body.model)
    job = await calls.start(
        spec, chat_inputs(spec, body.messages), params={"text": "messages", "instruction": "messages"}
    )
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return StreamingResponse(
            _chunks(calls, spec, job, body.model, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", **job_headers(job)},
        )
    done = await calls.ended(job.id)
    return JSONResponse(completion(body.model, spec, done), headers=job_headers(done))


def _sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


async def _chunks(
    calls: Calls, spec: PipelineSpec, job: JobPublic, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """The stream: a role chunk, the answer's pieces as they are written, a finish chunk, ``[DONE]``."""
    created = int(job.created_at.timestamp())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse(
            {
                "id": f"chatcmpl-{job.id}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    sent: list[str] = []
    async for piece in _deltas(calls, job.id, CHAT.answer_step(spec)):
        if piece is None:
            yield b": keep-alive\n\n"  # an SSE comment: proxies keep the connection, clients ignore it
            continue
        sent.append(piece)
        yield chunk({"content": piece})
    done = await calls.job(job.id)
    try:
        check_succeeded(done, calls.settings.openai_wait_seconds)
    except GatewayError as exc:
        _, body = openai_error_body(exc.status, exc.detail, code=exc.code)
        yield _sse(body)
        return
    answer, streamed = _answer(spec, done), "".join(sent)
    rest = answer[len(streamed) :] if answer.startswith(streamed) else ""
    if rest:  # no deltas (the worker did not stream), or fewer than the final text
        yield chunk({"content": rest})
    yield chunk({}, "stop")
    if include_usage:
        yield _sse(
            {
                "id": f"chatcmpl-{job.id}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(done),
            }
        )
    yield _sse("[DONE]")


async def _deltas(calls: Calls, job_id: str, step_id: str | None) -> AsyncIterator[str | None]:
    """The answer step's ``step.delta`` texts until the job's terminal event (or the wait runs out); None
    after every ``MODALINE_SSE_PING_SECONDS`` without one, for a keep-alive."""
    clock = asyncio.get_running_loop().time
    deadline = clock() + calls.settings.openai_wait_seconds
    tenant_id, after, last_sent = calls.principal.tenant_id, 0, clock()
    with calls.hub.watch(tenant_id=tenant_id, job_id=job_id) as changed:
        while True:
            changed.clear()
            events = await events_after(calls.engine, tenant_id=tenant_id, job_id=job_id, after=after)
            for event in events:
                after = event.seq
                if event.type == "step.delta":
                    delta = EventPublic.model_validate_json(event.data)
                    if delta.step_id == step_id and delta.detail:
                        last_sent = clock()
                        yield delta.detail
                if event.type in _TERMINAL_EVENTS:
                    return
            if events:
                continue
            if clock() - last_sent >= calls.settings.sse_ping_seconds:
                last_sent = clock()
                yield None
            left = deadline - clock()
            if left <= 0 or await calls.request.is_disconnected():
                return
            await changed.wait(min(calls.settings.wait_poll_seconds, left))
