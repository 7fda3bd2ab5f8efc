"""Whole-pipeline checks run when a spec is loaded: names, references, types and cycles.

Each problem is a string that starts with where it is, e.g.
``steps[1] (prompt).inputs.text: unknown step 'transcrib' in '{{ steps.transcrib.text }}'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.pipelines.templates import Reference, parse_template, walk_strings, whole_reference
from workers.kit.contract import CAPABILITY_IO, FieldSpec

if TYPE_CHECKING:
    from gateway.pipelines.spec import PipelineSpec, StepSpec

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_FILE_TYPES = frozenset({"image", "audio"})


class SpecProblems(ValueError):
    """Raised inside validation with every problem found; the loader turns it into a PipelineError."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _listing(names: Mapping[str, Any] | list[str]) -> str:
    return ", ".join(names) or "none"


def spec_problems(spec: PipelineSpec) -> list[str]:
    """Every problem in ``spec`` that field-by-field validation cannot see; empty when it is sound."""
    problems = [*_name_problems(spec), *_step_list_problems(spec)]
    for index, step in enumerate(spec.steps):
        problems += _step_problems(spec, step, f"steps[{index}] ({step.id})")
    problems += _output_problems(spec)
    if not problems:
        problems += _cycle_problems(spec)
    return problems


def _name_problems(spec: PipelineSpec) -> list[str]:
    return [
        f"{section}.{name}: name must match ^[a-z][a-z0-9_]*$"
        for section, names in (("inputs", spec.inputs), ("outputs", spec.outputs))
        for name in names
        if not _NAME.fullmatch(name)
    ]


def _step_list_problems(spec: PipelineSpec) -> list[str]:
    if not spec.steps:
        return ["steps: a pipeline needs at least one step"]
    first_index: dict[str, int] = {}
    problems = []
    for index, step in enumerate(spec.steps):
        if step.id in first_index:
            problems.append(
                f"steps[{index}] ({step.id}).id: duplicate step id '{step.id}' (also steps[{first_index[step.id]}])"
            )
        first_index.setdefault(step.id, index)
    return problems


def _step_problems(spec: PipelineSpec, step: StepSpec, label: str) -> list[str]:
    takes, gives = CAPABILITY_IO[step.worker]
    problems = [
        f"{label}.inputs.{key}: {step.worker} has no input '{key}' (it takes: {_listing(takes)})"
        for key in step.inputs
        if key not in takes
    ]
    problems += [
        f"{label}.inputs: missing '{name}', which {step.worker} requires"
        for name, field in takes.items()
        if field.required and name not in step.inputs
    ]
    problems += _value_problems(spec, f"{label}.inputs", step.inputs, step, takes)
    problems += _value_problems(spec, f"{label}.options", step.options, step, {})
    if step.on_error is not None:
        use = step.on_error.use
        problems += [
            f"{label}.on_error.use.{key}: {step.worker} has no output '{key}' (it gives: {_listing(gives)})"
            for key in use
            if key not in gives
        ]
        problems += [
            f"{label}.on_error.use: must give '{name}', an output of {step.worker} later steps may use"
            for name, field in gives.items()
            if field.required and name not in use
        ]
        problems += _value_problems(spec, f"{label}.on_error.use", use, step, gives, role="output")
    return problems


def _output_problems(spec: PipelineSpec) -> list[str]:
    if not spec.outputs:
        return ["outputs: a pipeline needs at least one output"]
    return _value_problems(spec, "outputs", spec.outputs, None, {})


def _value_problems(
    spec: PipelineSpec,
    where: str,
    values: Mapping[str, Any],
    owner: StepSpec | None,
    targets: Mapping[str, FieldSpec],
    role: str = "input",
) -> list[str]:
    """Check every reference in ``values``; a value that is exactly one reference is type-checked against
    ``targets[key]`` (the capability's input or output ``role`` field it fills) when there is one."""
    problems = []
    for key, value in values.items():
        for path, text in walk_strings(value, key):
            spot = f"{where}.{path}"
            try:
                refs = parse_template(text)
            except ValueError as exc:
                problems.append(f"{spot}: {exc}")
                continue
            found = [p for ref in refs if (p := _reference_problem(spec, ref, owner))]
            if found:
                problems += [f"{spot}: {p}" for p in found]
                continue
            whole = whole_reference(text)
            target = targets.get(key) if path == key else None
            what = f"{owner.worker} {role} '{key}'" if owner else f"'{key}'"
            problems += [f"{spot}: {p}" for p in _type_problems(spec, refs, whole, target, what)]
    return problems


def _reference_problem(spec: PipelineSpec, ref: Reference, owner: StepSpec | None) -> str | None:
    if ref.kind == "inputs":
        if ref.name not in spec.inputs:
            return f"unknown input '{ref.name}' in '{ref.text}' (inputs: {_listing(spec.inputs)})"
        return None
    try:
        worker = spec.step(ref.name).worker
    except KeyError:
        return f"unknown step '{ref.name}' in '{ref.text}'"
    if owner is not None and ref.name == owner.id:
        return f"a step cannot use its own output: '{ref.text}'"
    gives = CAPABILITY_IO[worker][1]
    if ref.field not in gives:
        return f"step '{ref.name}' ({worker}) has no output '{ref.field}' in '{ref.text}' (it gives: {_listing(gives)})"
    return None


def _source_type(spec: PipelineSpec, ref: Reference) -> str:
    if ref.kind == "inputs":
        return spec.inputs[ref.name].type
    assert ref.field is not None
    return CAPABILITY_IO[spec.step(ref.name).worker][1][ref.field].type


def _type_problems(
    spec: PipelineSpec,
    refs: list[Reference],
    whole: Reference | None,
    target: FieldSpec | None,
    what: str,
) -> list[str]:
    """Files go whole into file fields only; a text input must fit the field it fills."""
    if whole is None:
        return [
            f"'{ref.text}' is an {kind} file and cannot be embedded in text; use the reference alone"
            for ref in refs
            if (kind := _source_type(spec, ref)) in _FILE_TYPES
        ]
    kind = _source_type(spec, whole)
    if target is None:
        return []
    if (kind in _FILE_TYPES or target.type in _FILE_TYPES) and kind != target.type:
        return [f"{what} expects {target.type} but '{whole.text}' is {kind}"]
    if whole.kind != "inputs":
        return []
    source = spec.inputs[whole.name]
    if target.required and not source.required and source.default is None:
        return [f"{what} is required but optional input '{whole.name}' has no default"]
    if source.type == "text" and target.max_length is not None:
        allowed = source.max_length
        if allowed is None or allowed > target.max_length:
            return [
                f"{what} takes at most {target.max_length} characters but input '{whole.name}' allows "
                f"{allowed or 'any number'}; set its max_length to {target.max_length} or less"
            ]
    return []


def step_dependencies(spec: PipelineSpec) -> dict[str, frozenset[str]]:
    """Step id → ids of steps its inputs, options or on_error.use reference."""
    deps = {}
    for step in spec.steps:
        values = {"inputs": step.inputs, "options": step.options}
        if step.on_error is not None:
            values["on_error"] = step.on_error.use
        deps[step.id] = frozenset(
            ref.name
            for _, text in walk_strings(values)
            for ref in parse_template(text)
            if ref.kind == "steps"
        )
    return deps


def _cycle_problems(spec: PipelineSpec) -> list[str]:
    deps = step_dependencies(spec)
    order = [step.id for step in spec.steps]
    visiting: list[str] = []
    finished: set[str] = set()

    def visit(node: str) -> list[str] | None:
        visiting.append(node)
        for nxt in sorted(deps[node], key=order.index):
            if nxt in visiting:
                return [*visiting[visiting.index(nxt) :], nxt]
            if nxt not in finished and (cycle := visit(nxt)):
                return cycle
        visiting.pop()
        finished.add(node)
        return None

    for start in order:
        if start not in finished and (cycle := visit(start)):
            return [
                f"steps[{order.index(cycle[0])}] ({cycle[0]}): steps depend on each other in a cycle: "
                + " → ".join(cycle)
            ]
    return []
