"""Tiny dependencies reaching what the lifespan created; routes take them as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import InsufficientStorageError, NotFoundError
from gateway.events import EventHub
from gateway.files import FileStorage
from gateway.files.space import low_space
from gateway.metrics import Metrics
from gateway.pipelines import PipelineRegistry, PipelineSpec
from gateway.runner import Runner
from gateway.settings import Settings
from gateway.store.batch import InsertBatcher


async def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _registry(request: Request) -> PipelineRegistry:
    return request.app.state.registry


async def _runner(request: Request) -> Runner | None:
    return request.app.state.runner


async def _hub(request: Request) -> EventHub:
    return request.app.state.hub


async def _batcher(request: Request) -> InsertBatcher:
    return request.app.state.batcher


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def _storage(request: Request) -> FileStorage:
    return request.app.state.storage


EngineDep = Annotated[AsyncEngine, Depends(_engine)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RegistryDep = Annotated[PipelineRegistry, Depends(_registry)]
RunnerDep = Annotated[Runner | None, Depends(_runner)]
HubDep = Annotated[EventHub, Depends(_hub)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
BatcherDep = Annotated[InsertBatcher, Depends(_batcher)]
StorageDep = Annotated[FileStorage, Depends(_storage)]


def pipeline_named(registry: PipelineRegistry, name: str) -> PipelineSpec:
    """The pipeline, or a 404 problem listing the ones that exist."""
    try:
        return registry.get(name)
    except KeyError:
        known = ", ".join(spec.name for spec in registry.all())
        raise NotFoundError(
            f"no pipeline named {name!r}; known pipelines: {known}", title="Unknown pipeline"
        ) from None


def require_space(storage: FileStorage, settings: Settings) -> None:
    """507 problem when a directory files root has less than ``MODALINE_MIN_FREE_BYTES`` free."""
    if (why := low_space(storage, settings.min_free_bytes)) is not None:
        raise InsufficientStorageError(why)
