"""Steps run when what they reference is done; independent steps are ready together, in spec order."""

from __future__ import annotations

import pytest

from gateway.pipelines import parse_pipeline

DIAMOND = parse_pipeline(
    """
name: diamond
inputs:
  text: {type: text, max_length: 1000}
steps:
  - id: late
    worker: tts
    inputs: {text: "{{ steps.left.text }} {{ steps.right.text }}"}
  - id: left
    worker: llm
    inputs: {text: "{{ steps.root.text }}"}
  - id: right
    worker: llm
    inputs: {text: "{{ inputs.text }}"}
    on_error: {use: {text: "{{ steps.root.text }}"}}
  - id: root
    worker: llm
    inputs: {text: "{{ inputs.text }}"}
outputs:
  audio: "{{ steps.late.audio }}"
"""
)


def test_dependencies_include_on_error_references() -> None:
    assert DIAMOND.dependencies() == {
        "late": frozenset({"left", "right"}),
        "left": frozenset({"root"}),
        "right": frozenset({"root"}),
        "root": frozenset(),
    }


@pytest.mark.parametrize(
    ("done", "started", "ready"),
    [
        (set(), set(), ["root"]),
        (set(), {"root"}, []),
        ({"root"}, {"root"}, ["left", "right"]),
        ({"root"}, {"root", "left"}, ["right"]),
        ({"root", "left"}, {"root", "left", "right"}, []),
        ({"root", "left", "right"}, {"root", "left", "right"}, ["late"]),
        ({"root", "left", "right", "late"}, {"root", "left", "right", "late"}, []),
    ],
)
def test_ready_steps(done: set[str], started: set[str], ready: list[str]) -> None:
    assert [s.id for s in DIAMOND.ready_steps(done, started)] == ready


def test_step_lookup() -> None:
    assert DIAMOND.step("right").optional and not DIAMOND.step("left").optional
    with pytest.raises(KeyError):
        DIAMOND.step("missing")
