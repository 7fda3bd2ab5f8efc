"""``python -m workers image``: the image worker's app."""

from fastapi import FastAPI

from workers.image.backends import BACKENDS
from workers.kit.app import create_worker_app


def create_app() -> FastAPI:
    """The image worker, its backend chosen by ``IMAGE_BACKEND`` (auto | local | hf)."""
    return create_worker_app("image", BACKENDS)
