"""``python -m workers cyclegan``: the cyclegan worker's app."""

from fastapi import FastAPI

from workers.cyclegan.backends import BACKENDS
from workers.kit.app import create_worker_app


def create_app() -> FastAPI:
    """The cyclegan worker, its backend chosen by ``CYCLEGAN_BACKEND`` (auto | local | hf)."""
    return create_worker_app("cyclegan", BACKENDS)
