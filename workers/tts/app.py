"""``python -m workers tts``: the tts worker's app."""

from fastapi import FastAPI

from workers.kit.app import create_worker_app
from workers.tts.backends import BACKENDS


def create_app() -> FastAPI:
    """The tts worker, its backend chosen by ``TTS_BACKEND`` (auto | local | hf)."""
    return create_worker_app("tts", BACKENDS)
