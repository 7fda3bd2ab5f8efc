"""``POST /v1/images/generations``: an image from a prompt, as a job of an image pipeline."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.api.openai_compat.docs import JOB_HEADER, json_body, openai_errors, parse_body
from gateway.api.openai_compat.mapping import IMAGES, pipeline_for
from gateway.api.openai_compat.runs import CallsDep, job_headers
from gateway.api.openai_compat.shapes import ImageRequest

router = APIRouter(tags=["openai"])


@router.post(
    "/v1/images/generations",
    name="createImage",
    openapi_extra=json_body(ImageRequest),
    responses={
        200: {
            "description": "`{created, data: [{url | b64_json, revised_prompt}]}`; a `url` is absolute "
            "(signed and expiring while API keys are on)",
            "headers": JOB_HEADER,
            "content": {"application/json": {"schema": {"type": "object", "required": ["created", "data"]}}},
        },
        **openai_errors(400, 401, 403, 404, 413, 429, 502, 504),
    },
)
async def create_image(calls: CallsDep) -> Any:
    """OpenAI's image generation over an image pipeline (``default``: ``text_to_image``)."""
    body = parse_body(ImageRequest, await calls.request.body())
    spec = pipeline_for(calls.registry, IMAGES, body.model)
    job = await calls.start(spec, {IMAGES.input: body.prompt}, params={IMAGES.input: "prompt"})
    done = await calls.ended(job.id)
    output = IMAGES.output(spec)
    assert output is not None  # pipeline_for checked that the pipeline fits
    item: dict[str, Any] = {}
    if body.response_format == "b64_json":
        data, _ = await calls.output_bytes(done, output)
        item["b64_json"] = base64.b64encode(data).decode()
    else:
        item["url"] = calls.file_url(done.outputs[output]["id"])
    revised = done.outputs.get("prompt")
    if isinstance(revised, str) and revised != body.prompt:
        item["revised_prompt"] = revised
    return JSONResponse(
        {"created": int(done.created_at.timestamp()), "data": [item]}, headers=job_headers(done)
    )
