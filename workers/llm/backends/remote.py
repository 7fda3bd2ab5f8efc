"""OpenRouter through the official ``openai`` client (``LLM_BACKEND=openrouter``, key ``OPENROUTER_API_KEY``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion

from workers.kit.backend import Backend, Call, Result
from workers.kit.contract import FieldSpec
from workers.kit.errors import UpstreamError
from workers.kit.settings import WorkerSettings
from workers.kit.upstream import from_status, upstream_errors
from workers.llm.backends.options import LLM_OPTIONS

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"


class OpenRouterBackend(Backend):
    """Chat completions on OpenRouter. Retries are the gateway's job, so the client never retries itself."""

    name = "openrouter"
    provider = "openrouter"
    key_setting = "openrouter_api_key"
    key_env = "OPENROUTER_API_KEY"
    default_model = "meta-llama/llama-3.1-8b-instruct"
    streams = True

    def __init__(self, settings: WorkerSettings, *, http_client: httpx2.Client | None = None) -> None:
        super().__init__(settings)
        self._http_client = http_client
        self._client: openai.OpenAI | None = None

    def options(self) -> dict[str, FieldSpec]:
        return LLM_OPTIONS

    def load(self) -> None:
        """Create the client once; it pools its connections for the life of the worker."""
        self._client = openai.OpenAI(
            base_url=self.settings.base_url or OPENROUTER_BASE_URL,
            api_key=self.settings.secret("openrouter_api_key"),
            default_headers={"HTTP-Referer": self.settings.app_url, "X-Title": self.settings.app_title},
            timeout=self.settings.timeout_seconds,
            max_retries=0,
            http_client=self._http_client,
        )

    def run(self, call: Call) -> Result:
        if self._client is None:
            self.load()
        assert self._client is not None
        if call.streaming:
            return self._run_streamed(call)
        with upstream_errors("OpenRouter"):
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=_messages(call.inputs["text"], call.inputs.get("system")),
                max_tokens=call.options["max_tokens"],
                temperature=call.options["temperature"],
                extra_body={"usage": {"include": True}},  # OpenRouter usage accounting: adds usage.cost
            )
        text = _answer_text(completion)
        if not text:
            raise UpstreamError(f"OpenRouter returned no text (model {completion.model or self.model})")
        usage = completion.usage
        return Result(
            outputs={"text": text},
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            cost_usd=_cost(usage),
            model=completion.model or None,
        )

    def _run_streamed(self, call: Call) -> Result:
        """The same request with ``stream: true``: each content piece goes to ``call.stream`` as it arrives.

        The text is stripped like a plain answer, and only what is certain to stay is sent (whitespace at
        the end waits for the next piece), so the pieces join into exactly the returned text.
        """
        assert self._client is not None
        parts: list[str] = []
        sent = 0
        usage: Any = None
        model: str | None = None
        with upstream_errors("OpenRouter"), _mid_stream_errors():
            stream = self._client.chat.completions.create(
                model=self.model,
                messages=_messages(call.inputs["text"], call.inputs.get("system")),
                max_tokens=call.options["max_tokens"],
                temperature=call.options["temperature"],
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"usage": {"include": True}},
            )
            with stream:
                for chunk in stream:
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                    answer = "".join(parts).strip()
                    if len(answer) > sent:
                        piece, sent = answer[sent:], len(answer)
                        if call.stream(piece):
                            break  # the caller went away: stop paying for tokens
        text = "".join(parts).strip()
        if not text:
            raise UpstreamError(f"OpenRouter returned no text (model {model or self.model})")
        return Result(
            outputs={"text": text},
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            cost_usd=_cost(usage),
            model=model or None,
        )


@contextmanager
def _mid_stream_errors() -> Iterator[None]:
    """An error OpenRouter sends inside a stream that began with 200 (a chunk with an ``error`` member):
    the openai client raises a bare ``APIError``; its code says what it was (a string code, e.g. a provider
    that disconnected, is a 502: worth a retry)."""
    try:
        yield
    except openai.APIError as exc:
        if type(exc) is not openai.APIError:
            raise
        body = exc.body if isinstance(exc.body, dict) else {}
        code = body.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else 502
        raise from_status(status, exc.message, provider="OpenRouter") from exc


def _answer_text(completion: Any) -> str | None:
    """The answer's text; an error OpenRouter reported inside a 200 becomes the error it describes."""
    if not isinstance(completion, ChatCompletion):
        raise UpstreamError(f"OpenRouter returned {type(completion).__name__}, not a chat completion")
    error = (completion.model_extra or {}).get("error")
    if isinstance(error, dict):
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else 502
        raise from_status(status, str(error.get("message") or error), provider="OpenRouter")
    return completion.choices[0].message.content if completion.choices else None


def _messages(text: str, system: str | None) -> list[Any]:
    messages: list[Any] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    return messages


def _cost(usage: Any) -> float | None:
    """OpenRouter's ``usage.cost`` (credits = USD), when present."""
    cost = getattr(usage, "cost", None)
    return float(cost) if isinstance(cost, int | float) else None
