"""Check and normalise the inputs a client gives for a job against the pipeline's input specs."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from gateway.pipelines.errors import InputValidationError
from gateway.pipelines.spec import FILE_TYPES, InputSpec, PipelineSpec

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class _Invalid(ValueError):
    """One input's value is wrong; the message says how."""


def _is_absent(value: Any) -> bool:
    """None, a blank form field or an empty file record all mean the client gave nothing."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, Mapping | list) and len(value) == 0)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Invalid("must be a whole number")


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise _Invalid("must be a number")
    result: float | int
    if isinstance(value, int | float):
        result = value
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise _Invalid("must be a number") from None
    else:
        raise _Invalid("must be a number")
    if not math.isfinite(result):
        raise _Invalid("must be a finite number")
    return result


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Invalid("must be true or false")


def _in_range(value: float, spec: InputSpec) -> None:
    if spec.minimum is not None and value < spec.minimum:
        raise _Invalid(f"must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise _Invalid(f"must be at most {spec.maximum:g}")


def _size(size: int) -> str:
    """``1500`` → ``1.5 kB``; ``50_000_000`` → ``50.0 MB``."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


def _accepted(content_type: str, accept: list[str]) -> bool:
    """``audio/wav`` is accepted by ``audio/wav`` and by ``audio/*``."""
    kind = content_type.split("/")[0]
    return any(item == content_type or item == f"{kind}/*" for item in accept)


def _file(value: Any, spec: InputSpec) -> Any:
    """A file input arrives as the API's file record; check what it tells about type and size."""
    if isinstance(value, Mapping):
        content_type = str(value.get("content_type") or "").split(";")[0].strip().lower()
        if content_type and spec.accept and not _accepted(content_type, spec.accept):
            raise _Invalid(f"must be one of {', '.join(spec.accept)}, not {content_type}")
        size = value.get("bytes")
        if spec.max_bytes is not None and isinstance(size, int) and size > spec.max_bytes:
            raise _Invalid(f"is {_size(size)}; the limit is {_size(spec.max_bytes)}")
    return value


def _coerce(value: Any, spec: InputSpec) -> Any:
    """The value in the input's type, or _Invalid saying what is wrong."""
    if spec.type in FILE_TYPES:
        return _file(value, spec)
    if spec.type == "integer":
        number = _integer(value)
        _in_range(number, spec)
        return number
    if spec.type == "number":
        real = _number(value)
        _in_range(real, spec)
        return real
    if spec.type == "boolean":
        return _boolean(value)
    if not isinstance(value, str):
        raise _Invalid("must be text")
    if spec.type == "choice" and value not in (spec.choices or []):
        raise _Invalid(f"must be one of: {', '.join(spec.choices or [])}")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise _Invalid(f"is {len(value)} characters; the limit is {spec.max_length}")
    return value


def validate_job_inputs(spec: PipelineSpec, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The job's inputs, checked and normalised: defaults applied, strings from forms coerced to their type.

    Every declared input is in the result (None for an optional one without a default). Raises
    InputValidationError listing every problem at once, in the pipeline's input order then unknown names.
    """
    result: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for name, field in spec.inputs.items():
        value = inputs.get(name)
        if _is_absent(value):
            if field.default is not None:
                result[name] = copy.deepcopy(field.default)
            elif field.required:
                errors.append({"field": name, "message": "is required"})
            else:
                result[name] = None
            continue
        try:
            result[name] = _coerce(value, field)
        except _Invalid as exc:
            errors.append({"field": name, "message": str(exc)})
    errors += [
        {"field": name, "message": f"is not an input of pipeline '{spec.name}'"}
        for name in inputs
        if name not in spec.inputs
    ]
    if errors:
        raise InputValidationError(errors)
    return result
