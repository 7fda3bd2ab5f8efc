"""Check a run's inputs and options against the capability's declared fields, and decode its files."""

from __future__ import annotations

from typing import Any

from workers.kit.contract import FieldSpec
from workers.kit.errors import InvalidInput
from workers.kit.files import RunFiles
from workers.kit.media import load_image, probe_audio
from workers.kit.settings import WorkerSettings


def prepare_inputs(
    raw: dict[str, Any], specs: dict[str, FieldSpec], *, files: RunFiles, settings: WorkerSettings
) -> dict[str, Any]:
    """Inputs ready for a backend: texts checked, images decoded, audio probed. Absent optionals are None."""
    _refuse_unknown("input", raw, specs)
    prepared: dict[str, Any] = {}
    for name, spec in specs.items():
        value = raw.get(name)
        if value is None or (spec.type == "text" and value == ""):
            if spec.required:
                raise InvalidInput(f"input {name!r} is required ({spec.description or spec.type})")
            prepared[name] = None
            continue
        prepared[name] = _prepare_one(name, value, spec, files=files, settings=settings)
    return prepared


def _prepare_one(name: str, value: Any, spec: FieldSpec, *, files: RunFiles, settings: WorkerSettings) -> Any:
    if spec.type == "image":
        _, path = files.open_ref(value, name=name, max_bytes=settings.max_input_bytes)
        return load_image(path, name=name, max_pixels=settings.max_image_pixels)
    if spec.type == "audio":
        _, path = files.open_ref(value, name=name, max_bytes=settings.max_input_bytes)
        return probe_audio(path, name=name, max_seconds=settings.max_audio_seconds)
    return check_value(f"input {name!r}", value, spec)


def prepare_options(raw: dict[str, Any], specs: dict[str, FieldSpec]) -> dict[str, Any]:
    """Options checked against their specs, with defaults filled in."""
    _refuse_unknown("option", raw, specs)
    prepared: dict[str, Any] = {}
    for name, spec in specs.items():
        value = raw.get(name)
        if value is None:
            if spec.required:
                raise InvalidInput(f"option {name!r} is required")
            prepared[name] = spec.default
            continue
        prepared[name] = check_value(f"option {name!r}", value, spec)
    return prepared


def check_value(label: str, value: Any, spec: FieldSpec) -> Any:
    """One scalar against its spec: type, choices, range, length."""
    if spec.type in ("text", "choice"):
        if not isinstance(value, str):
            raise InvalidInput(f"{label} must be a string, not {type(value).__name__}")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise InvalidInput(f"{label} is {len(value)} characters long, the limit is {spec.max_length}")
        if spec.choices is not None and value not in spec.choices:
            raise InvalidInput(f"{label} must be one of {', '.join(spec.choices)}; got {value!r}")
        return value
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise InvalidInput(f"{label} must be true or false")
        return value
    if spec.type in ("integer", "number"):
        return _check_number(label, value, spec)
    raise InvalidInput(f"{label} cannot take a {spec.type} here")


def _check_number(label: str, value: Any, spec: FieldSpec) -> int | float:
    wants_int = spec.type == "integer"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{label} must be {'an integer' if wants_int else 'a number'}")
    if wants_int and not float(value).is_integer():
        raise InvalidInput(f"{label} must be an integer, got {value}")
    number: int | float = int(value) if wants_int else float(value)
    if spec.minimum is not None and number < spec.minimum:
        raise InvalidInput(f"{label} must be at least {spec.minimum:g}, got {number}")
    if spec.maximum is not None and number > spec.maximum:
        raise InvalidInput(f"{label} must be at most {spec.maximum:g}, got {number}")
    return number


def _refuse_unknown(kind: str, raw: dict[str, Any], specs: dict[str, FieldSpec]) -> None:
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        accepted = ", ".join(specs) or "none"
        raise InvalidInput(
            f"unknown {kind}(s) {', '.join(map(repr, unknown))}; this worker accepts: {accepted}"
        )
