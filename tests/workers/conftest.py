"""Fixtures for the worker tests: a files root and worker apps running under TestClient."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from worker_helpers import AppMaker, runtime

from workers.kit.app import create_worker_app
from workers.kit.backend import BackendFactory
from workers.kit.contract import Capability
from workers.kit.settings import load_settings


@pytest.fixture
def files_root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    return root


@pytest.fixture
def make_client(files_root: Path) -> Iterator[AppMaker]:
    """``make_client(capability, backends, **settings)`` → a started TestClient; stopped after the test."""
    clients: list[TestClient] = []

    def make(
        capability: Capability, backends: Mapping[str, BackendFactory], *, wait: bool = True, **overrides: Any
    ) -> TestClient:
        overrides.setdefault("backend", next(iter(backends)))
        settings = load_settings(capability, files_root=files_root, **overrides)
        client = TestClient(
            create_worker_app(capability, backends, settings=settings), raise_server_exceptions=False
        )
        client.__enter__()
        clients.append(client)
        if wait:
            assert runtime(client.app).wait_loaded(60), "backend did not finish loading"
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
