"""References resolve to values: whole references keep their type, embedded ones become text."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.pipelines import parse_template, resolve

IMAGE = {"file": "jobs/j1/draw/image.png", "content_type": "image/png", "bytes": 10, "sha256": "0" * 64}
CONTEXT: dict[str, Any] = {
    "inputs": {"text": "a fox", "count": 3, "loud": True, "nothing": None},
    "steps": {"draw": {"image": IMAGE}, "transcribe": {"text": "hello there", "language": "en"}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ steps.draw.image }}", IMAGE),
        ("{{steps.draw.image}}", IMAGE),
        ("{{ inputs.count }}", 3),
        ("{{ inputs.loud }}", True),
        ("{{ inputs.nothing }}", None),
        ("Draw {{ inputs.text }} in snow", "Draw a fox in snow"),
        ("{{ inputs.count }} x {{inputs.text}}", "3 x a fox"),
        ("loud={{ inputs.loud }}, none=[{{ inputs.nothing }}]", "loud=true, none=[]"),
        ("{{ steps.transcribe.text }} ({{ steps.transcribe.language }})", "hello there (en)"),
        ("no references here", "no references here"),
        (42, 42),
    ],
)
def test_resolve_value(template: Any, expected: Any) -> None:
    assert resolve(template, CONTEXT) == expected


def test_whole_reference_returns_the_same_object_type() -> None:
    resolved = resolve("{{ steps.draw.image }}", CONTEXT)
    assert isinstance(resolved, dict) and resolved["file"] == IMAGE["file"]


def test_resolve_walks_nested_dicts_and_lists() -> None:
    value = {"a": ["{{ inputs.text }}", {"b": "{{ steps.draw.image }}"}], "n": 1.5}
    assert resolve(value, CONTEXT) == {"a": ["a fox", {"b": IMAGE}], "n": 1.5}


@pytest.mark.parametrize(
    "template",
    [
        "{{ inputs.missing }}",
        "Say {{ steps.transcribe.missing }}",
        "{{ steps.nostep.text }}",
        ["{{ inputs.x }}"],
    ],
)
def test_missing_value_raises_key_error_with_the_reference(template: Any) -> None:
    with pytest.raises(KeyError) as caught:
        resolve(template, CONTEXT)
    assert str(caught.value).strip("'\"").startswith("{{")


def test_missing_steps_section_is_a_key_error() -> None:
    with pytest.raises(KeyError, match=r"steps\.draw\.image"):
        resolve("{{ steps.draw.image }}", {"inputs": {}})


def test_parse_template_lists_references_in_order() -> None:
    refs = parse_template("{{ steps.a.text }} and {{ inputs.b }}")
    assert [(r.kind, r.name, r.field) for r in refs] == [("steps", "a", "text"), ("inputs", "b", None)]


@pytest.mark.parametrize(
    "text",
    ["{{ inputs }}", "{{ steps.a }}", "{{ 1 + 2 }}", "{{ env.HOME }}", "{{ inputs.A }}", "{{ x", "y }}"],
)
def test_anything_but_a_reference_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_template(text)
