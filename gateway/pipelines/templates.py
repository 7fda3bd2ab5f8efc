"""References, the only template feature: ``{{ inputs.NAME }}``, ``{{ steps.ID.FIELD }}`` and, inside a map
step, its item: ``{{ AS }}`` or ``{{ AS.FIELD }}`` (``AS`` being the step's ``as`` name).

A string that is exactly one reference stands for the referenced value itself (a file reference stays a
dict); references inside longer text are interpolated as text. There are no expressions and no code.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_NAME = r"[a-z][a-z0-9_]*"
_BRACES = re.compile(r"\{\{([^{}]*)\}\}")
_INPUT_REF = re.compile(rf"inputs\.({_NAME})")
_STEP_REF = re.compile(rf"steps\.({_NAME})\.({_NAME})")
_ITEM_REF = re.compile(rf"({_NAME})(?:\.({_NAME}))?")
#: Names a map step's ``as`` may not take: they start the other references.
RESERVED_NAMES = frozenset({"inputs", "steps"})


@dataclass(frozen=True)
class Reference:
    """One ``{{ … }}`` occurrence: a pipeline input, a step's output field, or a map step's item."""

    text: str  # the whole ``{{ … }}`` as written
    kind: str  # "inputs", "steps" or "item"
    name: str  # input name, step id, or a map step's ``as`` name
    field: str | None = None  # step output field or item field; None for inputs and a whole item

    def lookup(self, context: Mapping[str, Any]) -> Any:
        """The referenced value in ``context``; KeyError naming the reference when it is missing.

        An item reference reads ``context["item"][name]`` (set only while resolving a map step's item)."""
        try:
            if self.kind == "inputs":
                return context["inputs"][self.name]
            if self.kind == "item":
                item = context["item"][self.name]
                return item if self.field is None else item[self.field]
            return context["steps"][self.name][self.field]
        except (KeyError, TypeError, IndexError):
            raise KeyError(self.text) from None


def _parse_one(match: re.Match[str]) -> Reference:
    return _reference(match.group(0))


@functools.lru_cache(maxsize=4096)
def _reference(text: str) -> Reference:
    """The reference ``{{ … }}`` stands for; cached, since the runner resolves the same specs per step."""
    body = text[2:-2].strip()
    if found := _INPUT_REF.fullmatch(body):
        return Reference(text, "inputs", found.group(1))
    if found := _STEP_REF.fullmatch(body):
        return Reference(text, "steps", found.group(1), found.group(2))
    if (found := _ITEM_REF.fullmatch(body)) and found.group(1) not in RESERVED_NAMES:
        return Reference(text, "item", found.group(1), found.group(2))
    raise ValueError(
        f"'{text}' is not a reference; use '{{{{ inputs.NAME }}}}', '{{{{ steps.ID.FIELD }}}}' "
        "or, in a map step, '{{{{ AS }}}}' / '{{{{ AS.FIELD }}}}'"
    )


def parse_template(text: str) -> list[Reference]:
    """Every reference in ``text``, in order. ValueError for anything else inside braces or a stray brace pair."""
    refs = [_parse_one(m) for m in _BRACES.finditer(text)]
    rest = _BRACES.sub("", text)
    if "{{" in rest or "}}" in rest:
        raise ValueError(f"unbalanced '{{{{' or '}}}}' in {text!r}")
    return refs


def whole_reference(text: str) -> Reference | None:
    """The reference when ``text`` is exactly one reference and nothing else, else None."""
    match = _BRACES.fullmatch(text)
    return _parse_one(match) if match else None


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(path, string)`` for every string inside nested dicts and lists, e.g. ``("a[0].b", "…")``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}[{index}]")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve(value: Any, context: Mapping[str, Any]) -> Any:
    """Replace references in ``value`` with values from ``context`` (``{"inputs": …, "steps": {id: outputs}}``).

    Walks dicts and lists. A string that is exactly one reference becomes the referenced value unchanged;
    references inside longer text are interpolated as text (None as ""). A missing value raises KeyError
    with the reference text.
    """
    if isinstance(value, str):
        if (ref := whole_reference(value)) is not None:
            return ref.lookup(context)
        return _BRACES.sub(lambda m: _as_text(_parse_one(m).lookup(context)), value)
    if isinstance(value, Mapping):
        return {key: resolve(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, context) for item in value]
    return value
