"""The OpenAI request bodies this gateway reads. Parameters it does not use are accepted and ignored (so
code written for OpenAI runs unchanged); the ones whose meaning it cannot honour are refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextPart(_Open):
    type: Literal["text"]
    text: str = Field(max_length=100_000)


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = Field(
        default=None, description="Text, or a list of text parts (images and audio are not read)"
    )


class StreamOptions(_Open):
    include_usage: bool = False


class ChatCompletionRequest(_Open):
    """``POST /v1/chat/completions``: temperature, max_tokens and the like are accepted and ignored (the
    pipeline's worker decides them)."""

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, description="One choice per call")


#: The voices ``/v1/audio/speech`` accepts: ``default`` and OpenAI's names, all the one voice the tts
#: worker is configured with (a worker has one voice).
VOICES = (
    "default",
    "alloy",
    "ash",
    "ballad",
    "cedar",
    "coral",
    "echo",
    "fable",
    "marin",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)
#: The audio formats ``/v1/audio/speech`` answers in, as the tts worker makes them (the offline voice makes
#: WAV; a remote backend may keep its provider's FLAC). No transcoding: OpenAI's default, mp3, is refused.
SPEECH_FORMATS = {"wav": "audio/wav", "flac": "audio/flac"}


class SpeechRequest(_Open):
    """``POST /v1/audio/speech``."""

    model: str = Field(min_length=1, max_length=200)
    input: str = Field(min_length=1, max_length=5_000)
    voice: str = Field(min_length=1, max_length=100, json_schema_extra={"enum": list(VOICES)})
    response_format: str = Field(
        default="mp3",
        max_length=20,
        description="`wav` (the offline voice) or `flac` (what a remote backend may make); OpenAI's default, "
        "mp3, is refused with 400 `unsupported_response_format`",
        json_schema_extra={"enum": list(SPEECH_FORMATS)},
    )
    speed: float = Field(default=1.0, ge=1.0, le=1.0, description="Only 1.0")


#: The answers ``/v1/audio/transcriptions`` gives; srt and vtt are refused (the worker gives no timings).
TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")


class ImageRequest(_Open):
    """``POST /v1/images/generations``: size, quality and style are accepted and ignored (the image worker
    decides them)."""

    prompt: str = Field(min_length=1, max_length=1_000)
    model: str = Field(default="default", min_length=1, max_length=200)
    n: int = Field(default=1, ge=1, le=1, description="One image per call")
    response_format: Literal["url", "b64_json"] = "url"
