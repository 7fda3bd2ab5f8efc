"""Whole-pipeline checks run when a spec is loaded: names, references, types, map steps and cycles.

Each problem is a string that starts with where it is, e.g.
``steps[1] (prompt).inputs.text: unknown step 'transcrib' in '{{ steps.transcrib.text }}'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.pipelines.templates import (
    RESERVED_NAMES,
    Reference,
    parse_template,
    walk_strings,
    whole_reference,
)
from gateway.transforms import ListOf, Port, Record, get, option_problem, port_type
from workers.kit.contract import FieldSpec

if TYPE_CHECKING:
    from gateway.pipelines.spec import PipelineSpec, StepSpec

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_FILE_TYPES = frozenset({"image", "audio", "file"})
#: The type of text made by interpolation.
TEXT = FieldSpec(type="text")


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
        label = f"steps[{index}] ({step.id})"
        map_problems = _map_problems(spec, step, label)
        problems += map_problems
        if not map_problems:
            problems += _step_problems(spec, step, label)
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


def _map_problems(spec: PipelineSpec, step: StepSpec, label: str) -> list[str]:
    """A map step's ``for_each`` must be one reference to a list; its ``as`` must not shadow a name."""
    if step.for_each is None:
        return []
    where = f"{label}.for_each"
    try:
        parse_template(step.for_each)
    except ValueError as exc:
        return [f"{where}: {exc}"]
    whole = whole_reference(step.for_each)
    if whole is None or whole.kind == "item":
        return [f"{where}: must be one reference to a list, such as '{{{{ steps.split.segments }}}}'"]
    if problem := _reference_problem(spec, whole, step):
        return [f"{where}: {problem}"]
    problems = []
    port = reference_port(spec, whole, None)
    if not isinstance(port, ListOf):
        problems.append(f"{where}: '{whole.text}' is {port_type(port)}, not a list")
    name = step.as_
    if name in RESERVED_NAMES or name in spec.inputs or any(s.id == name for s in spec.steps):
        kind = "a reserved word" if name in RESERVED_NAMES else "the name of an input or a step"
        problems.append(f"{label}.as: '{name}' is {kind}; choose another name for the item")
    return problems


def _step_problems(spec: PipelineSpec, step: StepSpec, label: str) -> list[str]:
    takes, gives = step.io()
    what = step.kind
    problems = [
        f"{label}.inputs.{key}: {what} has no input '{key}' (it takes: {_listing(takes)})"
        for key in step.inputs
        if key not in takes
    ]
    problems += [
        f"{label}.inputs: missing '{name}', which {what} requires"
        for name, field in takes.items()
        if field.required and name not in step.inputs
    ]
    problems += _value_problems(spec, f"{label}.inputs", step.inputs, step, takes)
    problems += _value_problems(spec, f"{label}.options", step.options, step, {})
    if step.transform is not None:
        problems += _option_problems(step, label)
    if step.on_error is not None:
        use = step.on_error.use
        problems += [
            f"{label}.on_error.use.{key}: {what} has no output '{key}' (it gives: {_listing(gives)})"
            for key in use
            if key not in gives
        ]
        problems += [
            f"{label}.on_error.use: must give '{name}', an output of {what} later steps may use"
            for name, field in gives.items()
            if field.required and name not in use
        ]
        problems += _value_problems(spec, f"{label}.on_error.use", use, step, gives, role="output")
    return problems


def _option_problems(step: StepSpec, label: str) -> list[str]:
    """A transform's options are declared: unknown keys and literal values that do not fit are named."""
    assert step.transform is not None
    declared = get(step.transform).options
    problems = []
    for key, value in step.options.items():
        spec = declared.get(key)
        if spec is None:
            problems.append(
                f"{label}.options.{key}: {step.kind} has no option '{key}' (it takes: {_listing(declared)})"
            )
        elif not (isinstance(value, str) and "{{" in value) and (problem := option_problem(spec, value)):
            problems.append(f"{label}.options.{key}: {problem}")
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
    targets: Mapping[str, Port],
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
            what = f"{owner.kind} {role} '{key}'" if owner else f"'{key}'"
            problems += [f"{spot}: {p}" for p in _type_problems(spec, refs, whole, target, what, owner)]
    return problems


def _reference_problem(spec: PipelineSpec, ref: Reference, owner: StepSpec | None) -> str | None:
    if ref.kind == "inputs":
        if ref.name not in spec.inputs:
            return f"unknown input '{ref.name}' in '{ref.text}' (inputs: {_listing(spec.inputs)})"
        return None
    if ref.kind == "item":
        return _item_problem(spec, ref, owner)
    try:
        target = spec.step(ref.name)
    except KeyError:
        return f"unknown step '{ref.name}' in '{ref.text}'"
    if owner is not None and ref.name == owner.id:
        return f"a step cannot use its own output: '{ref.text}'"
    gives = target.io()[1]
    if ref.field not in gives:
        return f"step '{ref.name}' ({target.kind}) has no output '{ref.field}' in '{ref.text}' (it gives: {_listing(gives)})"
    return None


def _item_problem(spec: PipelineSpec, ref: Reference, owner: StepSpec | None) -> str | None:
    if owner is None or owner.as_ != ref.name:
        return (
            f"'{ref.text}' is not a reference: '{ref.name}' is no input, step or map item here "
            "(use '{{ inputs.NAME }}', '{{ steps.ID.FIELD }}', or inside a map step its 'as' name)"
        )
    item = _item_port(spec, owner)
    if ref.field is None:
        return None
    if not isinstance(item, Record):
        return (
            f"'{ref.text}': the items are {port_type(item)}, which has no fields; use '{{{{ {ref.name} }}}}'"
        )
    if ref.field not in item.fields:
        return f"'{ref.text}': the items have no field '{ref.field}' (they have: {_listing(item.fields)})"
    return None


def _item_port(spec: PipelineSpec, step: StepSpec) -> Port:
    """The type of one item of a (checked) map step's list."""
    assert step.for_each is not None
    whole = whole_reference(step.for_each)
    assert whole is not None
    port = reference_port(spec, whole, None)
    return port.item if isinstance(port, ListOf) else port


def partners(spec: PipelineSpec, step: StepSpec) -> frozenset[str]:
    """The other map steps over the very same list as ``step``: its references to them are item by item."""
    if step.for_each is None:
        return frozenset()
    return frozenset(s.id for s in spec.steps if s.id != step.id and s.for_each == step.for_each)


def reference_port(spec: PipelineSpec, ref: Reference, owner: StepSpec | None) -> Port:
    """The type of the value ``ref`` stands for, seen from ``owner`` (None: from the pipeline's outputs).

    A map step's output is a list of its items' outputs, except inside a map step over the same list,
    where it is the one item's output of the same index."""
    if ref.kind == "inputs":
        source = spec.inputs[ref.name]
        return FieldSpec(type=source.type, required=source.required, max_length=source.max_length)
    if ref.kind == "item":
        assert owner is not None
        item = _item_port(spec, owner)
        return item if ref.field is None or not isinstance(item, Record) else item.fields[ref.field]
    assert ref.field is not None
    target = spec.step(ref.name)
    port = target.io()[1][ref.field]
    if not target.is_map or (owner is not None and ref.name in partners(spec, owner)):
        return port
    return ListOf(port)


def _type_problems(
    spec: PipelineSpec,
    refs: list[Reference],
    whole: Reference | None,
    target: Port | None,
    what: str,
    owner: StepSpec | None,
) -> list[str]:
    """Files, lists and records go whole into fields of their type only; a text input must fit the field."""
    if whole is None:
        return [
            f"'{ref.text}' is {_a(kind)} and cannot be embedded in text; use the reference alone"
            for ref in refs
            if (kind := port_type(reference_port(spec, ref, owner))) in _FILE_TYPES | {"list", "record"}
        ]
    source = reference_port(spec, whole, owner)
    if target is None:
        return []
    if problem := _mismatch(source, target):
        return [f"{what} expects {problem} but '{whole.text}' is {_shape(source)}"]
    if whole.kind != "inputs" or not isinstance(target, FieldSpec):
        return []
    given = spec.inputs[whole.name]
    if target.required and not given.required and given.default is None:
        return [f"{what} is required but optional input '{whole.name}' has no default"]
    if given.type == "text" and target.max_length is not None:
        allowed = given.max_length
        if allowed is None or allowed > target.max_length:
            return [
                f"{what} takes at most {target.max_length} characters but input '{whole.name}' allows "
                f"{allowed or 'any number'}; set its max_length to {target.max_length} or less"
            ]
    return []


def _a(kind: str) -> str:
    if kind == "file":
        return "a file"
    return f"an {kind} file" if kind in _FILE_TYPES else f"a {kind}"


def _shape(port: Port) -> str:
    if isinstance(port, ListOf):
        return f"a list of {_shape(port.item)}"
    if isinstance(port, Record):
        return "records {" + ", ".join(port.fields) + "}"
    return port.type


def _mismatch(source: Port, target: Port) -> str | None:
    """What ``target`` expects when ``source`` cannot fill it, else None."""
    if isinstance(target, ListOf):
        if not isinstance(source, ListOf) or _mismatch(source.item, target.item):
            return _shape(target)
        return None
    if isinstance(target, Record):
        if not isinstance(source, Record):
            return _shape(target)
        for name, field in target.fields.items():
            have = source.fields.get(name)
            if (have is None and field.required) or (have is not None and _mismatch(have, field)):
                return _shape(target)
        return None
    if isinstance(source, ListOf | Record):
        return target.type
    if (source.type in _FILE_TYPES or target.type in _FILE_TYPES) and source.type != target.type:
        return target.type
    return None


def step_dependencies(spec: PipelineSpec) -> dict[str, frozenset[str]]:
    """Step id → ids of steps its inputs, options or on_error.use reference."""
    deps = {}
    for step in spec.steps:
        values: dict[str, Any] = {"inputs": step.inputs, "options": step.options}
        if step.for_each is not None:
            values["for_each"] = step.for_each
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
