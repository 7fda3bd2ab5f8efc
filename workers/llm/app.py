"""``python -m workers llm``: the llm worker's app."""

from fastapi import FastAPI

from workers.kit.app import create_worker_app
from workers.llm.backends import BACKENDS


def create_app() -> FastAPI:
    """The llm worker, its backend chosen by ``LLM_BACKEND`` (auto | local | openrouter)."""
    return create_worker_app("llm", BACKENDS)
