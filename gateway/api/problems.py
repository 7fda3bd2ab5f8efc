"""The one place where errors become application/problem+json (RFC 9457) responses.

Domain errors (``gateway.errors``), the pipelines' input errors, the files package's upload and storage
errors, FastAPI's request validation and Starlette's HTTP errors (404, 405…) all end here; anything else
is a 500 problem that hides internals.
"""

from __future__ import annotations

import logging
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


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(errors: Any) -> list[dict[str, str]]:
    """FastAPI/pydantic error dicts as the API's ``[{field, message}]``."""
    return [
        {"field": _field(tuple(err.get("loc", ()))), "message": str(err.get("msg", "is invalid"))}
        for err in errors
    ]


async def _gateway_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    extra: dict[str, Any] = {"errors": exc.errors} if isinstance(exc, InvalidInputError) else {}
    return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers or None, **extra)


async def _input_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputValidationError)
    return problem_response(422, "Invalid input", str(exc), errors=exc.errors)


async def _upload_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UploadError)
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
    extra: dict[str, Any] = {"errors": errors} if errors else {}
    return problem_response(exc.status, exc.title, exc.detail, **extra)


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    """A storage failure that reached the edge: 404 for a missing file, else 503 saying why (no secret)."""
    assert isinstance(exc, StorageError)
    if isinstance(exc, ObjectNotFound | InvalidKey):
        return problem_response(404, "Not found", "the file's bytes are gone from the file storage")
    log.error(
        "file storage failed on %s %s: %s (%s)", request.method, request.url.path, exc.detail, exc.__cause__
    )
    headers = {"Retry-After": "5"} if exc.retryable else None
    return problem_response(
        503, "File storage unavailable", exc.detail, headers=headers, retryable=exc.retryable
    )


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(422, "Invalid request", detail, errors=errors)


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
    return problem_response(exc.status_code, title, detail, headers=headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "Internal error", "the gateway failed unexpectedly; see its log")


def install_problem_handlers(app: FastAPI) -> None:
    """Register every mapping above on ``app``."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(InputValidationError, _input_error)
    app.add_exception_handler(UploadError, _upload_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


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
