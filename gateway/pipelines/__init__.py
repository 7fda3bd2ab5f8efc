"""Pipelines are data: YAML specs of worker steps, validated on load, resolved step by step (``gateway/pipelines/README.md``)."""

from gateway.pipelines.errors import InputValidationError, PipelineError
from gateway.pipelines.inputs import validate_job_inputs
from gateway.pipelines.loader import BUILTIN_DIR, PipelineRegistry, load_pipelines, parse_pipeline
from gateway.pipelines.spec import InputSpec, InputType, OnError, PipelineSpec, StepSpec
from gateway.pipelines.templates import Reference, parse_template, resolve

__all__ = [
    "BUILTIN_DIR",
    "InputSpec",
    "InputType",
    "InputValidationError",
    "OnError",
    "PipelineError",
    "PipelineRegistry",
    "PipelineSpec",
    "Reference",
    "StepSpec",
    "load_pipelines",
    "parse_pipeline",
    "parse_template",
    "resolve",
    "validate_job_inputs",
]
