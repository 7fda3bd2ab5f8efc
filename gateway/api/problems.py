"""The one place where errors become responses: application/problem+json (RFC 9457) everywhere, and
OpenAI's ``{"error": {message, type, param, code}}`` envelope under the OpenAI-compatible paths.

Domain errors (``gateway.errors``), the pipelines' input errors, the files package's upload and storage
errors, FastAPI's request validation and Starlette's HTTP errors (404, 405…) all end here; anything else
is a 500 that hides internals. Each handler states the error once (:func:`error_response`), which picks
the dress by the request's path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gateway.errors import GatewayError, InvalidInputError
from gateway.files import InvalidKey, ObjectNotFound, StorageError, UploadError
from gateway.pipelines import InputValidationError
from workers.kit.contract import PROBLEM_CONTENT_TYPE

log = logging.getLogger(__name__)


def problem_response(
    status: int, title: str, detail: str = "", *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


#: The paths that speak OpenAI's dialect (``gateway/api/openai_compat/``): their errors use its envelope.
OPENAI_PATHS = ("/v1/chat/", "/v1/audio/", "/v1/images/", "/v1/completions", "/v1/embeddings")
OPENAI_MODELS_PATH = "/v1/models"


def speaks_openai(path: str) -> bool:
    """True for a path under the OpenAI-compatible routes (known or not: ``/v1/chat/nope`` too)."""
    return path.startswith(OPENAI_PATHS) or path == OPENAI_MODELS_PATH or path.startswith("/v1/models/")


#: OpenAI's error ``type`` and default ``code`` by status; any other 4xx is an invalid request.
_OPENAI_KINDS: dict[int, tuple[str, str | None]] = {
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "insufficient_permissions"),
    404: ("invalid_request_error", "not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def openai_error_body(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    """``(status, {"error": {message, type, param, code}})``; a 422 becomes OpenAI's 400 (it answers
    invalid parameters so). Also what a chat stream sends when its job fails after the stream began."""
    if status == 422:
        status = 400
    kind, default_code = _OPENAI_KINDS.get(
        status, ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    )
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code or default_code}}


def openai_error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error in OpenAI's envelope."""
    status, body = openai_error_body(status, message, code=code, param=param)
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(
    request: Request,
    status: int,
    title: str,
    detail: str = "",
    *,
    headers: dict[str, str] | None = None,
    code: str | None = None,
    param: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """The one error answer: problem+json, or OpenAI's envelope under :func:`speaks_openai` paths."""
    if speaks_openai(request.url.path):
        errors = extra.get("errors") or []
        if param is None and errors:
            param = errors[0].get("field")
        message = f"{title}: {detail}" if detail else title
        return openai_error_response(status, message, code=code, param=param, headers=headers)
    return problem_response(status, title, detail, headers=headers, **extra)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(errors: Any) -> list[dict[str, str]]:
    """FastAPI/pydantic error dicts as the API's ``[{field, message}]``."""
    return [
        {"field": _field(tuple(err.get("loc", ()))), "message": str(err.get("msg", "is invalid"))}
        for err in errors
    ]


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    extra: dict[str, Any] = {"errors": exc.errors} if isinstance(exc, InvalidInputError) else {}
    return error_response(
        request,
        exc.status,
        exc.title,
        exc.detail,
        headers=exc.headers or None,
        code=exc.code,
        param=exc.param,
        **extra,
    )


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputValidationError)
    return error_response(request, 422, "Invalid input", str(exc), errors=exc.errors)


async def _upload_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UploadError)
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
    extra: dict[str, Any] = {"errors": errors} if errors else {}
    return error_response(request, exc.status, exc.title, exc.detail, **extra)


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    """A storage failure that reached the edge: 404 for a missing file, else 503 saying why (no secret)."""
    assert isinstance(exc, StorageError)
    if isinstance(exc, ObjectNotFound | InvalidKey):
        return error_response(request, 404, "Not found", "the file's bytes are gone from the file storage")
    log.error(
        "file storage failed on %s %s: %s (%s)", request.method, request.url.path, exc.detail, exc.__cause__
    )
    headers = {"Retry-After": "5"} if exc.retryable else None
    return error_response(
        request, 503, "File storage unavailable", exc.detail, headers=headers, retryable=exc.retryable
    )


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return error_response(request, 422, "Invalid request", detail, errors=errors)


#: The methods a 405's ``Allow`` may name (RFC 9110 §9).
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path, sorted.

    Starlette's 405 names only the methods of the first route whose path matched, but one path may have
    several routes (``GET`` and ``POST /v1/jobs``): a 405's ``Allow`` must list them all (RFC 9110
    §15.5.6). Asks the routes themselves, method by method, so included routers are searched too.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = (
        HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus._value2member_map_ else "Error"
    )
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else ""
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        headers["Allow"] = ", ".join(methods)
    return error_response(request, exc.status_code, title, detail, headers=headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "Internal error", "the gateway failed unexpectedly; see its log")


#: Every mapping above, most specific first (``Exception`` last).
_HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Exception], Awaitable[JSONResponse]]], ...] = (
    (GatewayError, _gateway_error),
    (InputValidationError, _input_error),
    (UploadError, _upload_error),
    (StorageError, _storage_error),
    (RequestValidationError, _request_validation),
    (StarletteHTTPException, _http_error),
    (Exception, _unexpected),
)


def install_problem_handlers(app: FastAPI) -> None:
    """Register every mapping above on ``app``."""
    for kind, handler in _HANDLERS:
        app.add_exception_handler(kind, handler)


async def problem_for(request: Request, exc: Exception) -> JSONResponse:
    """The answer the app's handlers give ``exc``, for ASGI code in front of the router (the event-stream
    fast path): the handler of the nearest class in ``exc``'s MRO, as Starlette picks it."""
    handlers = dict(_HANDLERS)
    for kind in type(exc).__mro__:
        if kind in handlers:
            return await handlers[kind](request, exc)
    return await _unexpected(request, exc)


#: OpenAPI description of an error answer, shared by every route.
PROBLEM_SCHEMA: dict[str, Any] = {
    "content": {
        PROBLEM_CONTENT_TYPE: {
            "schema": {
                "type": "object",
                "required": ["type", "title", "status"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        },
                    },
                },
            }
        }
    },
    "description": "Problem (RFC 9457)",
}


def problems(*statuses: int, **why: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting these error statuses as problem+json.

    ``why`` says when a status is answered, keyed ``s400=…``: the document's only way to state a rule its
    schemas cannot (a cursor this API never issued, a file whose bytes are not the format it claims).
    """
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        reason = why.pop(f"s{status}", None)
        description = (
            f"{PROBLEM_SCHEMA['description']}: {reason}" if reason else PROBLEM_SCHEMA["description"]
        )
        entries[status] = {**PROBLEM_SCHEMA, "description": description}
    if why:
        raise TypeError(f"problems(): reasons given for undocumented statuses {sorted(why)}")
    return entries
