"""The worker contract: the JSON shapes the gateway and every worker exchange (prose: workers/kit/README.md).

This module is the only part of ``workers`` the gateway may import. It holds pure data models and
no I/O, so both sides agree on one definition of a request, a response, a file reference and an error.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Capability = Literal["llm", "image", "stt", "tts", "cyclegan"]
CAPABILITIES: tuple[Capability, ...] = ("llm", "image", "stt", "tts", "cyclegan")

#: Media type of every error body, RFC 9457.
PROBLEM_CONTENT_TYPE = "application/problem+json"
#: The problem ``type`` of a worker's 429 for its own concurrency limit ("busy": come back shortly; the
#: gateway waits without counting an attempt), as opposed to an upstream provider's rate limit.
OVERLOADED_PROBLEM_TYPE = "urn:modaline:problem:overloaded"


class FileRef(BaseModel):
    """A file on the shared volume, referenced by its path relative to the files root.

    Files never travel as base64 inside JSON; a worker reads and writes them on the shared volume.
    """

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="Path relative to the shared files root, e.g. jobs/<job>/<step>/image.png")
    content_type: str
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @staticmethod
    def looks_like(value: Any) -> bool:
        """True when ``value`` is a JSON object shaped like a file reference."""
        return isinstance(value, dict) and {"file", "content_type", "bytes", "sha256"} <= value.keys()


class RunRequest(BaseModel):
    """``POST /v1/run`` body: run the worker's capability once."""

    job_id: str
    step_id: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


class Usage(BaseModel):
    """What one run cost. The gateway sums these per job."""

    provider: str = Field(description="Backend that served the call: 'local', 'openrouter', 'hf-inference'…")
    model: str
    seconds: float = Field(ge=0)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class RunResponse(BaseModel):
    """``POST /v1/run`` answer."""

    outputs: dict[str, Any]
    usage: Usage
    placeholder: bool = Field(
        default=False,
        description="True when the output was not made by an AI model (e.g. the offline procedural image renderer).",
    )


#: Media type of a streamed run (``POST /v1/run`` with ``Accept: text/event-stream``).
STREAM_CONTENT_TYPE = "text/event-stream"

#: The server-sent events of a streamed run, by ``event:`` name: any number of ``delta`` events (data: a
#: :class:`RunDelta`), then exactly one ``result`` (data: the :class:`RunResponse` a plain run answers) or
#: ``problem`` (data: a :class:`Problem`, for a failure after the stream began). A stream that ends without
#: either was cut. Failures before it begins (bad input, 429, 503) are ordinary problem+json answers.
StreamEvent = Literal["delta", "result", "problem"]


class RunDelta(BaseModel):
    """One ``delta`` event of a streamed run: the next piece of the text output as it is generated.

    The pieces of one run, joined, are exactly the final ``outputs.text`` of its ``result`` event.
    """

    text: str


#: ``file`` is any other file a step makes (e.g. an HTML document); no worker input takes one.
FieldType = Literal["text", "image", "audio", "file", "choice", "integer", "number", "boolean"]


class FieldSpec(BaseModel):
    """One input, option or output a worker declares in ``/v1/info``."""

    type: FieldType
    required: bool = False
    description: str = ""
    default: Any = None
    choices: list[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None


class WorkerInfo(BaseModel):
    """``GET /v1/info`` answer: what this worker accepts and returns."""

    capability: Capability
    backend: str
    model: str
    placeholder: bool = False
    inputs: dict[str, FieldSpec]
    options: dict[str, FieldSpec] = Field(default_factory=dict)
    outputs: dict[str, FieldSpec]


class Problem(BaseModel):
    """An RFC 9457 problem document with the contract's extra ``retryable`` member."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    retryable: bool = False


def _text(required: bool = True, description: str = "", max_length: int | None = 20_000) -> FieldSpec:
    return FieldSpec(type="text", required=required, description=description, max_length=max_length)


#: The inputs and outputs each capability takes and gives, whatever its backend. Workers publish these in
#: ``/v1/info`` (adding backend-specific options); the gateway validates pipeline specs against them.
CAPABILITY_IO: dict[Capability, tuple[dict[str, FieldSpec], dict[str, FieldSpec]]] = {
    "llm": (
        {"text": _text(description="The prompt"), "system": _text(False, "Optional system instruction")},
        {"text": _text(description="The model's answer")},
    ),
    "image": (
        {"prompt": _text(description="What to draw", max_length=2_000)},
        {"image": FieldSpec(type="image", required=True, description="PNG image")},
    ),
    "stt": (
        {"audio": FieldSpec(type="audio", required=True, description="Speech to transcribe")},
        {"text": _text(description="The transcript"), "language": _text(False, "Detected language code")},
    ),
    "tts": (
        {"text": _text(description="Text to speak", max_length=5_000)},
        {"audio": FieldSpec(type="audio", required=True, description="WAV audio")},
    ),
    "cyclegan": (
        {
            "image": FieldSpec(type="image", required=True, description="Image to restyle"),
            "style": _text(False, "Style name, see /v1/info options", max_length=100),
        },
        {"image": FieldSpec(type="image", required=True, description="PNG image, same size as the input")},
    ),
}
