"""``POST /v1/audio/transcriptions`` (multipart, like OpenAI) and ``POST /v1/audio/speech`` (WAV bytes)."""

from __future__ import annotations

import io
import wave
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from gateway.api.files import MAX_PARTS, MAX_TEXT_BYTES, MEDIA_TYPES, ONE_PART
from gateway.api.openai_compat.docs import JOB_HEADER, inline_schema, openai_errors, parse_body
from gateway.api.openai_compat.mapping import DEFAULT_MODEL, SPEECH, TRANSCRIPTION, pipeline_for
from gateway.api.openai_compat.runs import NO_RETRY, CallsDep, job_headers
from gateway.api.openai_compat.shapes import (
    SPEECH_FORMATS,
    TRANSCRIPTION_FORMATS,
    VOICES,
    SpeechRequest,
)
from gateway.api.submit import file_ref
from gateway.errors import InvalidInputError, JobFailedError
from gateway.files import FileRule, delete_stored, receive_multipart
from gateway.store.render import file_public

router = APIRouter(tags=["openai"])

_AUDIO_TYPES = [media for media in MEDIA_TYPES if media.startswith("audio/")]

_TRANSCRIPTION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "minLength": 1,
                            "description": "The recording; its format is read from its bytes",
                        },
                        "model": {
                            "type": "string",
                            "maxLength": 200,
                            "description": "A model id from GET /v1/models; empty or absent: `default`",
                        },
                        "response_format": {"type": "string", "enum": list(TRANSCRIPTION_FORMATS)},
                    },
                    "additionalProperties": {
                        **ONE_PART,
                        "description": "language, prompt, temperature… are accepted and ignored",
                    },
                    "maxProperties": MAX_PARTS,
                },
                "encoding": {"file": {"contentType": ", ".join(_AUDIO_TYPES)}},
            }
        },
    }
}


def _invalid(param: str, message: str, code: str | None = None) -> InvalidInputError:
    return InvalidInputError(f"{param} {message}", errors=[{"field": param, "message": message}], code=code)


@router.post(
    "/v1/audio/transcriptions",
    name="createTranscription",
    openapi_extra=_TRANSCRIPTION_BODY,
    responses={
        200: {
            "description": "`json`: `{text}`; `verbose_json`: `{task, language, duration, text, segments}`; "
            "`text`: the transcript as text/plain",
            "headers": JOB_HEADER,
            "content": {
                "application/json": {"schema": {"type": "object", "required": ["text"]}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        **openai_errors(400, 401, 403, 404, 413, 415, 429, 502, 504),
    },
)
async def create_transcription(calls: CallsDep) -> Any:
    """OpenAI's transcriptions over a speech pipeline (``default``: ``speech_to_text``)."""
    form = await receive_multipart(
        calls.request,
        storage=calls.storage,
        max_bytes=calls.settings.max_upload_bytes,
        file_rules={"file": FileRule(kind="audio")},
        max_fields=MAX_PARTS,
        max_field_bytes=MAX_TEXT_BYTES,
    )
    uploads = list(form.files.values())
    try:
        stored = form.files.get("file")
        if stored is None:
            raise _invalid("file", "is required: the recording as a file part")
        model = form.fields.get("model") or DEFAULT_MODEL
        response_format = form.fields.get("response_format") or "json"
        if response_format not in TRANSCRIPTION_FORMATS:
            raise _invalid(
                "response_format",
                f"must be one of {', '.join(TRANSCRIPTION_FORMATS)} (srt and vtt need timings the worker "
                "does not give)",
                "unsupported_response_format",
            )
        spec = pipeline_for(calls.registry, TRANSCRIPTION, model)
        job = await calls.start(
            spec,
            {TRANSCRIPTION.input: file_ref(stored)},
            params={TRANSCRIPTION.input: "file"},
            uploads=uploads,
            files={stored.path: file_public(stored)},
        )
    except BaseException:
        for upload in uploads:  # not stored as a job's input: nothing keeps the file
            await delete_stored(calls.storage, upload)
        raise
    done = await calls.ended(job.id)
    output = TRANSCRIPTION.output(spec)
    text = done.outputs.get(output) if output else None
    text = text if isinstance(text, str) else ""
    headers = job_headers(done)
    if response_format == "text":
        return PlainTextResponse(text, headers=headers)
    if response_format == "json":
        return JSONResponse({"text": text}, headers=headers)
    language = done.outputs.get("language")
    return JSONResponse(
        {
            "task": "transcribe",
            "language": language if isinstance(language, str) and language else None,
            "duration": await _duration(calls, stored.path, stored.content_type),
            "text": text,
            "segments": [],
        },
        headers=headers,
    )


async def _duration(calls: Any, path: str, content_type: str) -> float | None:
    """Seconds of a WAV recording (read from its header); None for other formats."""
    if content_type != "audio/wav":
        return None
    head = b""
    async for chunk in await calls.storage.aread_chunks(path, length=64 * 1024):
        head += chunk
    try:
        with wave.open(io.BytesIO(head)) as reader:
            rate = reader.getframerate()
            frames = reader.getnframes()
    except (wave.Error, EOFError):
        return None
    return round(frames / rate, 3) if rate else None


def _speech_body() -> dict[str, Any]:
    schema = inline_schema(SpeechRequest)
    schema["required"] = sorted({*schema.get("required", []), "response_format"})
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post(
    "/v1/audio/speech",
    name="createSpeech",
    openapi_extra=_speech_body(),
    responses={
        200: {
            "description": "The speech, in the format asked for",
            "headers": JOB_HEADER,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in SPEECH_FORMATS.values()
            },
        },
        **openai_errors(400, 401, 403, 404, 413, 429, 502, 504),
    },
)
async def create_speech(calls: CallsDep) -> Response:
    """OpenAI's speech over a text-to-speech pipeline (``default``: ``text_to_speech``). Only
    ``wav`` or ``flac`` (what the tts worker makes; no transcoding); every voice name in the document is the
    tts worker's one voice."""
    body = parse_body(SpeechRequest, await calls.request.body())
    if body.voice not in VOICES:
        raise _invalid("voice", f"must be one of {', '.join(VOICES)}", "unsupported_voice")
    if body.response_format not in SPEECH_FORMATS:
        raise _invalid(
            "response_format",
            f"must be {' or '.join(SPEECH_FORMATS)}: {body.response_format!r} is not produced (OpenAI's "
            "default is mp3: pass response_format='wav')",
            "unsupported_response_format",
        )
    spec = pipeline_for(calls.registry, SPEECH, body.model or DEFAULT_MODEL)
    job = await calls.start(spec, {SPEECH.input: body.input}, params={SPEECH.input: "input"})
    done = await calls.ended(job.id)
    output = SPEECH.output(spec)
    assert output is not None  # pipeline_for checked that the pipeline fits
    data, content_type = await calls.output_bytes(done, output)
    wanted = SPEECH_FORMATS[body.response_format]
    if content_type != wanted:
        raise JobFailedError(
            f"job {done.id} made {content_type}, not the {wanted} asked for (the gateway does not transcode): "
            f"ask for response_format={_format_of(content_type)!r}",
            code="unsupported_response_format",
            param="response_format",
            headers=NO_RETRY,
        )
    return Response(data, media_type=content_type, headers=job_headers(done))


def _format_of(content_type: str) -> str:
    return next((name for name, media in SPEECH_FORMATS.items() if media == content_type), content_type)
