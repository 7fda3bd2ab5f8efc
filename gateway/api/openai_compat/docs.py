"""OpenAPI pieces of the OpenAI-compatible routes: their error envelope, their headers, a JSON body."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gateway.api.problems import validation_errors
from gateway.errors import InvalidInputError

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_WHY = {
    400: "an invalid parameter (`param` names it), or a model that does not serve this endpoint "
    "(`model_not_supported`)",
    401: "no API key, or one that is unknown, revoked or expired",
    403: "the API key lacks the scope this route needs",
    404: "no such model (`model_not_found`)",
    413: "the body or the file is larger than the gateway takes",
    415: "the file's bytes are not an audio format the gateway reads",
    429: "the tenant's requests, submits or jobs limit is used up (`Retry-After`)",
    502: "the job behind the call failed or was canceled (`job_failed`, `job_canceled`); not retried",
    504: "the job was still running after MODALINE_OPENAI_WAIT_SECONDS (`job_timeout`); it goes on",
}


def openai_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these statuses in OpenAI's ``{"error": {…}}`` envelope."""
    return {
        status: {
            "description": f"OpenAI error envelope: {_WHY[status]}",
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status in statuses
    }


JOB_HEADER = {
    "Modaline-Job-Id": {
        "description": "The Modaline job that did the work (GET /v1/jobs/{id})",
        "schema": {"type": "string"},
    }
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` inlined, to stand alone inside the document."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return dict(inline(schema))


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON request body (parsed by :func:`parse_body`)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(model)}},
        }
    }


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], raw: bytes) -> M:
    """The request body as ``model``; a 400 in OpenAI's envelope naming the first bad parameter."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = validation_errors(exc.errors())
        raise InvalidInputError(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        ) from None
