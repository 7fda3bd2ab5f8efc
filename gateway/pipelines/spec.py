"""Pipeline spec models: what a YAML pipeline may say, checked field by field and then as a whole."""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from gateway import transforms
from gateway.pipelines import checks
from gateway.pipelines.templates import whole_reference
from gateway.transforms import Port, describe, port_type
from workers.kit.contract import CAPABILITIES, CAPABILITY_IO, Capability

InputType = Literal["text", "image", "audio", "choice", "integer", "number", "boolean"]
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
#: A map step runs at most this many items at once unless it says otherwise (``max_parallel``).
DEFAULT_MAX_PARALLEL = 4
MAX_PARALLEL_LIMIT = 32
FILE_TYPES = frozenset({"image", "audio"})

#: Content types an image or audio input accepts when the spec does not say.
DEFAULT_ACCEPT: dict[str, list[str]] = {
    "image": ["image/png", "image/jpeg", "image/webp"],
    "audio": ["audio/wav", "audio/x-wav", "audio/mpeg", "audio/flac", "audio/ogg", "audio/webm"],
}


def title_from_name(name: str) -> str:
    """``reply_text`` → ``Reply text``."""
    return name.replace("_", " ").capitalize()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    """One pipeline input, as the UI form draws it and the API validates it."""

    type: InputType
    title: str = Field(default="", description="Label for the form; defaults from the input's name")
    description: str = ""
    required: bool = True
    default: Any = None
    choices: list[str] | None = None
    max_length: int | None = Field(default=None, ge=1)
    minimum: float | None = None
    maximum: float | None = None
    max_bytes: int | None = Field(
        default=None, ge=1, description="Upload limit; None = the gateway's default"
    )
    accept: list[str] | None = Field(
        default=None, description="Accepted content types of an image/audio input"
    )

    @model_validator(mode="after")
    def _consistent(self) -> InputSpec:
        problems = [*self._misplaced_fields(), *self._default_problems()]
        if self.type == "choice" and not self.choices:
            problems.append("a choice input needs a non-empty 'choices' list")
        if self.choices and len(set(self.choices)) != len(self.choices):
            problems.append("'choices' has duplicates")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            problems.append(f"minimum {self.minimum} is greater than maximum {self.maximum}")
        if self.accept is not None and not all("/" in item for item in self.accept):
            problems.append(f"'accept' must list content types such as 'image/png', got {self.accept}")
        if problems:
            raise ValueError("; ".join(problems))
        if self.type in FILE_TYPES and self.accept is None:
            self.accept = list(DEFAULT_ACCEPT[self.type])
        return self

    def _misplaced_fields(self) -> list[str]:
        allowed = {
            "choices": {"choice"},
            "max_length": {"text"},
            "minimum": {"integer", "number"},
            "maximum": {"integer", "number"},
            "max_bytes": FILE_TYPES,
            "accept": FILE_TYPES,
        }
        return [
            f"'{key}' does not apply to a {self.type} input"
            for key, types in allowed.items()
            if getattr(self, key) is not None and self.type not in types
        ]

    def _default_problems(self) -> list[str]:
        value = self.default
        if value is None:
            return []
        if self.type in FILE_TYPES:
            return [f"an {self.type} input cannot have a default"]
        expected: dict[str, tuple[type, ...]] = {
            "text": (str,),
            "choice": (str,),
            "integer": (int,),
            "number": (int, float),
            "boolean": (bool,),
        }
        right_type = isinstance(value, expected[self.type])  # kept in a variable so mypy does not narrow Any
        if not right_type or (isinstance(value, bool) and self.type != "boolean"):
            return [f"default {value!r} is not a {self.type}"]
        if self.type == "choice" and value not in (self.choices or []):
            return [f"default {value!r} is not among the choices {self.choices}"]
        if self.type == "text" and self.max_length is not None and len(value) > self.max_length:
            return [f"default is longer than max_length {self.max_length}"]
        if self.type == "number" and not math.isfinite(value):
            return ["default must be a finite number"]
        if self.minimum is not None and value < self.minimum:
            return [f"default {value} is below minimum {self.minimum}"]
        if self.maximum is not None and value > self.maximum:
            return [f"default {value} is above maximum {self.maximum}"]
        return []


class OnError(_Strict):
    """Makes a step optional: when it fails for good, these outputs stand in for its own (values may be references)."""

    use: dict[str, Any]


class StepSpec(_Strict):
    """One call to a worker, or one gateway transform; with ``for_each``, one per item of a list (a map step).

    Its inputs (and options) may reference pipeline inputs, earlier steps' outputs and, in a map step, its
    item (``{{ AS }}`` / ``{{ AS.FIELD }}``)."""

    id: str = Field(pattern=NAME_PATTERN)
    worker: Capability | None = None
    transform: str | None = Field(default=None, description="A gateway transform (gateway/transforms/)")
    inputs: dict[str, Any]
    options: dict[str, Any] = Field(default_factory=dict)
    on_error: OnError | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    for_each: str | None = Field(default=None, description="A reference to a list: run once per item")
    as_: str | None = Field(default=None, alias="as", pattern=NAME_PATTERN)
    max_parallel: int | None = Field(default=None, ge=1, le=MAX_PARALLEL_LIMIT)

    @field_validator("worker", mode="before")
    @classmethod
    def _known_worker(cls, value: Any) -> Any:
        if value is not None and value not in CAPABILITIES:
            raise ValueError(f"unknown worker {value!r}; known workers: {', '.join(CAPABILITIES)}")
        return value

    @field_validator("transform")
    @classmethod
    def _known_transform(cls, value: str | None) -> str | None:
        if value is not None and value not in transforms.registry():
            known = ", ".join(sorted(transforms.registry()))
            raise ValueError(f"unknown transform {value!r}; known transforms: {known}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        problems = []
        if (self.worker is None) == (self.transform is None):
            problems.append("a step needs exactly one of 'worker' or 'transform'")
        if self.for_each is None:
            problems += [
                f"'{key}' needs 'for_each' (it only applies to a map step)"
                for key, value in (("as", self.as_), ("max_parallel", self.max_parallel))
                if value is not None
            ]
        elif self.as_ is None:
            problems.append("a map step (for_each) needs 'as', the name its inputs use for the item")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def optional(self) -> bool:
        """True when the step has a fallback, so its failure does not fail the job."""
        return self.on_error is not None

    @property
    def kind(self) -> str:
        """What runs it: the worker's capability, or ``transform:<name>`` (the steps rows' ``worker``)."""
        return self.worker if self.worker is not None else f"transform:{self.transform}"

    @property
    def is_map(self) -> bool:
        """True for a map step: it runs once per item of its ``for_each`` list."""
        return self.for_each is not None

    @property
    def parallel(self) -> int:
        """How many of its items may run at once."""
        return self.max_parallel or DEFAULT_MAX_PARALLEL

    def io(self) -> tuple[dict[str, Port], dict[str, Port]]:
        """What one run of it takes and gives (one item's, for a map step)."""
        if self.worker is not None:
            takes, gives = CAPABILITY_IO[self.worker]
            return dict(takes), dict(gives)
        assert self.transform is not None
        found = transforms.get(self.transform)
        return found.inputs, found.outputs


class PipelineSpec(_Strict):
    """A named DAG of steps (worker calls, transforms, map steps), with the inputs it takes and the outputs
    it gives."""

    name: str = Field(pattern=NAME_PATTERN)
    title: str = ""
    description: str = ""
    inputs: dict[str, InputSpec]
    steps: list[StepSpec]
    outputs: dict[str, str]
    timeout_seconds: float = Field(default=900, gt=0)

    _dependencies: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)
    _partners: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _whole_pipeline(self) -> PipelineSpec:
        self.title = self.title or title_from_name(self.name)
        for name, spec in self.inputs.items():
            spec.title = spec.title or title_from_name(name)
        problems = checks.spec_problems(self)
        if problems:
            raise checks.SpecProblems(problems)
        self._dependencies = checks.step_dependencies(self)
        self._partners = {step.id: checks.partners(self, step) for step in self.steps}
        return self

    def step(self, step_id: str) -> StepSpec:
        """The step with this id; KeyError when there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def dependencies(self) -> dict[str, frozenset[str]]:
        """Step id → ids of the steps it references (in inputs, options and on_error.use)."""
        return dict(self._dependencies)

    def partners(self, step_id: str) -> frozenset[str]:
        """The map steps over the same list as map step ``step_id``, whose outputs it sees item by item."""
        return self._partners.get(step_id, frozenset())

    def item_dependencies(self, step_id: str) -> frozenset[str]:
        """The map steps whose outputs map step ``step_id`` reads item by item (same list): each of its items
        waits only for their item of the same index, not for the whole step."""
        return self._dependencies.get(step_id, frozenset()) & self.partners(step_id)

    def ready_steps(self, done: AbstractSet[str], started: AbstractSet[str]) -> list[StepSpec]:
        """Steps not yet started whose dependencies are all done, in spec order; they may run concurrently."""
        return [
            step
            for step in self.steps
            if step.id not in started and step.id not in done and self._dependencies[step.id] <= done
        ]

    def output_port(self, output: str) -> Port:
        """The type of one pipeline output: the referenced value's, or text for interpolated text."""
        ref = whole_reference(self.outputs[output])
        if ref is None:
            return checks.TEXT
        return checks.reference_port(self, ref, None)

    def output_type(self, output: str) -> str:
        """``text``, ``image``, … or ``list`` (the outputs of a map step are lists in item order)."""
        return port_type(self.output_port(output))

    def public(self) -> dict[str, Any]:
        """The JSON served at ``GET /v1/pipelines``: enough for a UI to draw the form and show the results."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputs": {name: spec.model_dump() for name, spec in self.inputs.items()},
            "outputs": {name: self._public_output(name) for name in self.outputs},
            "steps": [
                {"id": s.id, "worker": s.kind, "optional": s.optional, "map": s.is_map} for s in self.steps
            ],
        }

    def _public_output(self, name: str) -> dict[str, Any]:
        port = self.output_port(name)
        shown: dict[str, Any] = {"type": port_type(port), "title": title_from_name(name)}
        if port_type(port) in ("list", "record"):
            shown["shape"] = describe(port)
        return shown
