"""The single translation point from provider exceptions to contract errors (workers.kit.upstream)."""

from __future__ import annotations

import email.utils
import inspect
import subprocess
import sys
import time
from types import ModuleType

import httpx2
import openai
import pytest
from huggingface_hub import errors as hf_errors

from workers.kit import errors
from workers.kit.upstream import from_status, retry_after_from, rule_for, rules, translate, upstream_errors


def _exception_classes(module: ModuleType, root: type[BaseException]) -> list[type[BaseException]]:
    return sorted(
        {
            obj
            for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, root) and not obj.__name__.startswith("_")
        },
        key=lambda cls: cls.__qualname__,
    )


PROVIDER_CLASSES = [
    *_exception_classes(openai, openai.OpenAIError),
    *_exception_classes(hf_errors, httpx2.HTTPError),
    *_exception_classes(httpx2, httpx2.HTTPError),
    hf_errors.OfflineModeIsEnabled,
    hf_errors.HFValidationError,
    httpx2.InvalidURL,
    httpx2.StreamError,
]


@pytest.mark.parametrize("exc_type", PROVIDER_CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_provider_error_class_has_a_rule(exc_type: type[BaseException]) -> None:
    assert rule_for(exc_type) is not None, f"{exc_type} is not translated to a contract error"


def test_the_families_cover_what_the_clients_raise() -> None:
    assert len(PROVIDER_CLASSES) > 40  # the real families, not an empty list
    assert {openai.RateLimitError, openai.APITimeoutError, hf_errors.HfHubHTTPError} <= set(PROVIDER_CLASSES)
    assert rule_for(ValueError) is None and rule_for(KeyError) is None


def _response(status: int, headers: dict[str, str] | None = None, json: object = None) -> httpx2.Response:
    request = httpx2.Request("POST", "https://provider.test/v1/x")
    return httpx2.Response(status, headers=headers, json=json if json is not None else {}, request=request)


def _openai_status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    client = openai.OpenAI(api_key="k", base_url="https://provider.test/v1")
    return client._make_status_error_from_response(_response(status, headers, {"error": {"message": "nope"}}))


def _hf_status_error(status: int, json: object = None) -> hf_errors.HfHubHTTPError:
    return hf_errors.HfHubHTTPError("nope", response=_response(status, json=json))


REQUEST = httpx2.Request("POST", "https://provider.test/v1/x")


TRANSLATIONS = [
    (_openai_status_error(400), errors.UpstreamRejected, 422, False),
    (_openai_status_error(401), errors.UpstreamAuth, 502, False),
    (_openai_status_error(403), errors.UpstreamAuth, 502, False),
    (_openai_status_error(404), errors.UpstreamNotFound, 502, False),
    (_openai_status_error(409), errors.UpstreamUnavailable, 502, True),
    (_openai_status_error(422), errors.UpstreamRejected, 422, False),
    (_openai_status_error(429), errors.UpstreamRateLimited, 429, True),
    (_openai_status_error(500), errors.UpstreamUnavailable, 502, True),
    (_openai_status_error(418), errors.UpstreamError, 502, False),
    (openai.APITimeoutError(REQUEST), errors.UpstreamTimeout, 504, True),
    (openai.APIConnectionError(request=REQUEST), errors.UpstreamUnavailable, 503, True),
    (openai.APIResponseValidationError(_response(200), None), errors.UpstreamError, 502, False),
    (openai.ContentFilterFinishReasonError(), errors.UpstreamRejected, 422, False),
    (_hf_status_error(401), errors.UpstreamAuth, 502, False),
    (_hf_status_error(503), errors.UpstreamUnavailable, 503, True),
    (hf_errors.InferenceTimeoutError("slow"), errors.UpstreamTimeout, 504, True),
    (hf_errors.OverloadedError("busy"), errors.UpstreamUnavailable, 503, True),
    (hf_errors.ValidationError("bad input"), errors.UpstreamRejected, 422, False),
    (hf_errors.GenerationError("broke"), errors.UpstreamError, 502, False),
    (httpx2.ConnectTimeout("slow", request=REQUEST), errors.UpstreamTimeout, 504, True),
    (httpx2.RemoteProtocolError("eof", request=REQUEST), errors.UpstreamUnavailable, 503, True),
    (
        httpx2.HTTPStatusError("x", request=REQUEST, response=_response(502)),
        errors.UpstreamUnavailable,
        502,
        True,
    ),
]


@pytest.mark.parametrize(
    ("exc", "expected", "status", "retryable"),
    TRANSLATIONS,
    ids=[f"{type(case[0]).__name__}-{case[2]}" for case in TRANSLATIONS],
)
def test_translation_gives_the_contract_status_and_retryability(
    exc: BaseException, expected: type[errors.WorkerError], status: int, retryable: bool
) -> None:
    mapped = translate(exc, "Provider")
    assert type(mapped) is expected
    assert (mapped.status, mapped.retryable) == (status, retryable)
    assert mapped.detail.startswith("Provider ")


def test_upstream_errors_reraises_translated_and_chains_the_cause() -> None:
    cause = _openai_status_error(429, {"retry-after": "3"})
    with pytest.raises(errors.UpstreamRateLimited) as caught, upstream_errors("OpenRouter"):
        raise cause
    assert caught.value.__cause__ is cause
    assert caught.value.headers() == {"Retry-After": "3"}
    with pytest.raises(KeyError), upstream_errors("OpenRouter"):
        raise KeyError("not a provider error: stays as it is")


@pytest.mark.parametrize(
    ("headers", "json", "expected"),
    [
        ({"retry-after": "7"}, None, 7.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, None, 1.5),
        ({}, {"error": "loading", "estimated_time": 12.5}, 12.5),
        ({"retry-after": "soon"}, None, None),
        ({}, None, None),
    ],
)
def test_retry_after_sources(headers: dict[str, str], json: object, expected: float | None) -> None:
    assert retry_after_from(_response(429, headers, json)) == expected


def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    seconds = retry_after_from(_response(429, {"retry-after": when}))
    assert seconds is not None and 55 <= seconds <= 61


def test_retry_after_header_rounds_up_to_whole_seconds() -> None:
    assert errors.UpstreamRateLimited("x", retry_after=0.2).headers() == {"Retry-After": "1"}
    assert errors.UpstreamRateLimited("x", retry_after=20.5).headers() == {"Retry-After": "21"}
    assert errors.UpstreamRateLimited("x").headers() == {}


def test_long_provider_messages_are_shortened() -> None:
    mapped = from_status(500, "x" * 5000, provider="P")
    assert len(mapped.detail) < 400


def test_rules_are_ordered_most_specific_first() -> None:
    seen: list[type[BaseException]] = []
    for cls, _ in rules():
        assert not any(issubclass(cls, earlier) for earlier in seen), f"{cls} is shadowed by an earlier rule"
        seen.append(cls)


def test_workers_that_do_not_use_a_client_do_not_import_it() -> None:
    """The openai import costs seconds on a busy machine; only the llm worker should pay it."""
    code = (
        "import sys, workers.image.app, workers.stt.app, workers.tts.app, workers.cyclegan.app\n"
        "from workers.kit.upstream import rules\n"
        "print(sorted(m for m in ('openai', 'huggingface_hub') if m in sys.modules), len(rules()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "0"]
