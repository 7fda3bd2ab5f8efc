"""``python -m workers stt``: the stt worker's app."""

from fastapi import FastAPI

from workers.kit.app import create_worker_app
from workers.stt.backends import BACKENDS


def create_app() -> FastAPI:
    """The stt worker, its backend chosen by ``STT_BACKEND`` (auto | local | hf)."""
    return create_worker_app("stt", BACKENDS)
