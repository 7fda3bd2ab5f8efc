"""OpenAI-compatible endpoints under ``/v1`` (``docs/openai.md``): chat completions (streamed too), audio
transcriptions and speech, image generations and the model list. Each call is a durable Modaline job of
the caller's tenant, submitted through the same path as ``POST /v1/jobs``; errors come from the one error
edge (``gateway/api/problems.py``) in OpenAI's envelope."""

from fastapi import APIRouter

from gateway.api.openai_compat import audio, chat, images, models

router = APIRouter()
for module in (models, chat, audio, images):
    router.include_router(module.router)

__all__ = ["router"]
