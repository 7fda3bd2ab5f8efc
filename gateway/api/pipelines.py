"""``/v1/pipelines``: what can be run, with each input's schema (and upload limits) for the UI's forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import RegistryDep, SettingsDep, pipeline_named
from gateway.api.problems import problems
from gateway.api.security import AUTH_PROBLEMS, JobsRead
from gateway.pipelines import PipelineSpec
from gateway.settings import Settings

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class PipelineInput(_Open):
    type: str
    title: str
    description: str = ""
    required: bool = True
    default: Any = None
    choices: list[str] | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_bytes: int | None = None
    accept: list[str] | None = None


class PipelineOutput(_Open):
    type: str = Field(description="text, image, audio, …, or list (a map step's output, a transform's list)")
    title: str
    shape: Any = Field(
        default=None,
        description='For a list or record: its items, e.g. {"list": "image"} or {"list": {"record": {"text": "text"}}}',
    )


class PipelineStep(_Open):
    id: str
    worker: str = Field(description="The worker capability, or transform:<name> for a gateway transform")
    optional: bool
    map: bool = Field(default=False, description="True for a map step (runs once per item of a list)")


class Pipeline(_Open):
    name: str
    title: str
    description: str
    inputs: dict[str, PipelineInput]
    outputs: dict[str, PipelineOutput]
    steps: list[PipelineStep]


class PipelineList(BaseModel):
    items: list[Pipeline]


def pipeline_public(spec: PipelineSpec, settings: Settings) -> dict[str, Any]:
    """``spec.public()`` plus the effective upload limit of each file input (the gateway's, if tighter)."""
    public = spec.public()
    for name, field in public["inputs"].items():
        if spec.inputs[name].type in ("image", "audio"):
            limit = field.get("max_bytes") or settings.max_upload_bytes
            field["max_bytes"] = min(limit, settings.max_upload_bytes)
    return public


@router.get("", response_model=PipelineList, name="listPipelines", responses=AUTH_PROBLEMS)
async def list_pipelines(_: JobsRead, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    """Every pipeline this gateway runs."""
    return {"items": [pipeline_public(spec, settings) for spec in registry.all()]}


@router.get(
    "/{name}", response_model=Pipeline, name="getPipeline", responses=problems(404, 422) | AUTH_PROBLEMS
)
async def get_pipeline(
    name: str, _: JobsRead, registry: RegistryDep, settings: SettingsDep
) -> dict[str, Any]:
    """One pipeline, by name."""
    return pipeline_public(pipeline_named(registry, name), settings)
