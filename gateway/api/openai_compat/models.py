"""``GET /v1/models`` and ``GET /v1/models/{model}``: ``default`` and every pipeline, each saying (beyond
OpenAI's fields) which endpoints it serves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway.api.deps import RegistryDep
from gateway.api.openai_compat.docs import openai_errors
from gateway.api.openai_compat.mapping import check_model, endpoints_of, model_ids
from gateway.api.security import JobsRead
from gateway.pipelines import PipelineRegistry

router = APIRouter(tags=["openai"])

_MODEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["model"]},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "endpoints": {
            "type": "array",
            "items": {"type": "string", "enum": ["chat", "speech", "transcription", "images"]},
            "description": "The OpenAI-compatible endpoints this model serves",
        },
    },
}


def _model(registry: PipelineRegistry, model_id: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": "modaline",
        "endpoints": endpoints_of(registry, model_id),
    }


@router.get(
    "/v1/models",
    name="listModels",
    responses={
        200: {
            "description": "`default` and every pipeline's name",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["object", "data"],
                        "properties": {
                            "object": {"type": "string", "enum": ["list"]},
                            "data": {"type": "array", "items": _MODEL_SCHEMA},
                        },
                    }
                }
            },
        },
        **openai_errors(401, 403, 429),
    },
)
async def list_models(principal: JobsRead, registry: RegistryDep) -> Any:
    """The model ids the OpenAI-compatible endpoints accept."""
    return {"object": "list", "data": [_model(registry, model_id) for model_id in model_ids(registry)]}


@router.get(
    "/v1/models/{model}",
    name="getModel",
    openapi_extra={
        "parameters": [
            {"name": "model", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        ]
    },
    responses={
        200: {"description": "The model", "content": {"application/json": {"schema": _MODEL_SCHEMA}}},
        **openai_errors(401, 403, 404, 429),
    },
)
async def get_model(request: Request, principal: JobsRead, registry: RegistryDep) -> Any:
    """One model id; 404 ``model_not_found`` when it is neither ``default`` nor a pipeline."""
    model_id = str(request.path_params["model"])
    check_model(registry, model_id)
    return _model(registry, model_id)
