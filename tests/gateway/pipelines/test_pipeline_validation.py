"""A broken spec is refused at load with a message naming the file, pipeline, step and field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from gateway.pipelines import PipelineError, parse_pipeline

BASE: dict[str, Any] = {
    "name": "speech_to_image",
    "title": "Speech to image",
    "inputs": {"audio": {"type": "audio"}, "mood": {"type": "text", "required": False, "max_length": 100}},
    "steps": [
        {"id": "transcribe", "worker": "stt", "inputs": {"audio": "{{ inputs.audio }}"}},
        {
            "id": "prompt",
            "worker": "llm",
            "inputs": {"text": "Rewrite as a vivid image prompt: {{ steps.transcribe.text }}"},
            "on_error": {"use": {"text": "{{ steps.transcribe.text }}"}},
        },
        {"id": "draw", "worker": "image", "inputs": {"prompt": "{{ steps.prompt.text }}"}},
    ],
    "outputs": {"transcript": "{{ steps.transcribe.text }}", "image": "{{ steps.draw.image }}"},
}


def parse(data: dict[str, Any]) -> Any:
    return parse_pipeline(yaml.safe_dump(data, sort_keys=False), "extra/speech.yaml")


def edited(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def step(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda data: data["steps"][index]


def test_base_spec_is_valid() -> None:
    assert parse(BASE).name == "speech_to_image"


def make_cycle(data: dict[str, Any]) -> None:
    """prompt reads caption's text and caption reads prompt's."""
    data["steps"][1]["inputs"]["text"] = "{{ steps.transcribe.text }} {{ steps.caption.text }}"
    data["steps"].append({"id": "caption", "worker": "llm", "inputs": {"text": "{{ steps.prompt.text }}"}})


CASES: list[tuple[str, Callable[[dict[str, Any]], Any], list[str]]] = [
    ("unknown top-level key", lambda d: d.update(version=2), ["version: unknown key"]),
    ("unknown step key", lambda d: step(2)(d).update(retries=3), ["steps[2] (draw).retries: unknown key"]),
    ("bad pipeline name", lambda d: d.update(name="Speech-Image"), ["name: String should match pattern"]),
    (
        "bad step id",
        lambda d: step(0)(d).update(id="Transcribe"),
        ["steps[0] (Transcribe).id: String should"],
    ),
    (
        "bad input name",
        lambda d: d["inputs"].update({"My-Input": {"type": "text", "required": False}}),
        ["inputs.My-Input: name must match"],
    ),
    (
        "duplicate step id",
        lambda d: step(2)(d).update(id="prompt"),
        ["steps[2] (prompt).id: duplicate step id"],
    ),
    (
        "unknown worker",
        lambda d: step(2)(d).update(worker="painter"),
        ["steps[2] (draw).worker: unknown worker"],
    ),
    (
        "unknown capability input",
        lambda d: step(2)(d)["inputs"].update(size="512"),
        ["steps[2] (draw).inputs.size: image has no input 'size'"],
    ),
    (
        "missing required capability input",
        lambda d: step(2)(d).update(inputs={}),
        ["steps[2] (draw).inputs: missing 'prompt'"],
    ),
    (
        "unknown step",
        lambda d: step(1)(d)["inputs"].update(text="Rewrite: {{ steps.transcrib.text }}"),
        ["steps[1] (prompt).inputs.text: unknown step 'transcrib' in '{{ steps.transcrib.text }}'"],
    ),
    (
        "unknown pipeline input",
        lambda d: step(0)(d)["inputs"].update(audio="{{ inputs.voice }}"),
        ["steps[0] (transcribe).inputs.audio: unknown input 'voice'"],
    ),
    (
        "field the step does not output",
        lambda d: step(2)(d)["inputs"].update(prompt="{{ steps.prompt.answer }}"),
        ["steps[2] (draw).inputs.prompt: step 'prompt' (llm) has no output 'answer'"],
    ),
    (
        "not a reference",
        lambda d: step(2)(d)["inputs"].update(prompt="{{ steps.prompt.text | upper }}"),
        ["steps[2] (draw).inputs.prompt: '{{ steps.prompt.text | upper }}' is not a reference"],
    ),
    (
        "unbalanced braces",
        lambda d: step(2)(d)["inputs"].update(prompt="{{ steps.prompt.text }} and {{ more"),
        ["steps[2] (draw).inputs.prompt: unbalanced"],
    ),
    (
        "self reference",
        lambda d: step(2)(d)["inputs"].update(prompt="{{ steps.draw.image }}"),
        ["steps[2] (draw).inputs.prompt: a step cannot use its own output"],
    ),
    (
        "cycle",
        make_cycle,
        ["steps[1] (prompt): steps depend on each other in a cycle: prompt → caption → prompt"],
    ),
    (
        "on_error key not an output",
        lambda d: step(1)(d)["on_error"]["use"].update(answer="x"),
        ["steps[1] (prompt).on_error.use.answer: llm has no output 'answer'"],
    ),
    (
        "on_error misses a required output",
        lambda d: step(1)(d)["on_error"].update(use={}),
        ["steps[1] (prompt).on_error.use: must give 'text'"],
    ),
    (
        "on_error references unknown step",
        lambda d: step(1)(d)["on_error"]["use"].update(text="{{ steps.nope.text }}"),
        ["steps[1] (prompt).on_error.use.text: unknown step 'nope'"],
    ),
    (
        "on_error gives a file for a text output",
        lambda d: step(1)(d)["on_error"]["use"].update(text="{{ inputs.audio }}"),
        [
            "steps[1] (prompt).on_error.use.text: llm output 'text' expects text but '{{ inputs.audio }}' is audio"
        ],
    ),
    (
        "output references unknown step",
        lambda d: d["outputs"].update(image="{{ steps.paint.image }}"),
        ["outputs.image: unknown step 'paint'"],
    ),
    ("no outputs", lambda d: d.update(outputs={}), ["outputs: a pipeline needs at least one output"]),
    (
        "no steps",
        lambda d: d.update(steps=[], outputs={"x": "{{ inputs.mood }}"}),
        ["steps: a pipeline needs"],
    ),
    (
        "default not among choices",
        lambda d: d["inputs"].update(style={"type": "choice", "choices": ["a", "b"], "default": "c"}),
        ["inputs.style: default 'c' is not among the choices"],
    ),
    (
        "choice without choices",
        lambda d: d["inputs"].update(style={"type": "choice"}),
        ["inputs.style: a choice input needs"],
    ),
    (
        "option on the wrong type",
        lambda d: d["inputs"].update(count={"type": "integer", "max_length": 3}),
        ["inputs.count: 'max_length' does not apply to a integer input"],
    ),
    (
        "unknown input type",
        lambda d: d["inputs"].update(video={"type": "video"}),
        ["inputs.video.type: Input should be"],
    ),
    (
        "file into a text input",
        lambda d: step(2)(d)["inputs"].update(prompt="{{ inputs.audio }}"),
        [
            "steps[2] (draw).inputs.prompt: image input 'prompt' expects text but '{{ inputs.audio }}' is audio"
        ],
    ),
    (
        "file embedded in text",
        lambda d: step(2)(d)["inputs"].update(prompt="Draw {{ inputs.audio }}"),
        ["steps[2] (draw).inputs.prompt: '{{ inputs.audio }}' is an audio file and cannot be embedded"],
    ),
    (
        "text input longer than the capability accepts",
        lambda d: (
            step(2)(d)["inputs"].update(prompt="{{ inputs.mood }}")
            or d["inputs"]["mood"].update(required=True, max_length=5000)
        ),
        ["steps[2] (draw).inputs.prompt: image input 'prompt' takes at most 2000 characters"],
    ),
    (
        "optional input without default feeds a required capability input",
        lambda d: step(2)(d)["inputs"].update(prompt="{{ inputs.mood }}"),
        ["steps[2] (draw).inputs.prompt: image input 'prompt' is required but optional input 'mood'"],
    ),
    (
        "bad timeout",
        lambda d: step(0)(d).update(timeout_seconds=0),
        ["steps[0] (transcribe).timeout_seconds"],
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_spec_names_the_spot(change: Callable[[dict[str, Any]], Any], expected: list[str]) -> None:
    with pytest.raises(PipelineError) as caught:
        parse(edited(change))
    message = str(caught.value)
    assert message.startswith("extra/speech.yaml: ")
    for part in expected:
        assert part in message


def test_pipeline_name_is_in_the_message() -> None:
    with pytest.raises(
        PipelineError, match=r"^extra/speech\.yaml: pipeline speech_to_image: steps\[2\] \(draw\)"
    ):
        parse(edited(lambda d: step(2)(d).update(worker="painter")))


def test_every_problem_is_reported_at_once() -> None:
    def two_problems(d: dict[str, Any]) -> None:
        step(2)(d)["inputs"].update(size="1")
        d["outputs"].update(extra="{{ inputs.nothing }}")

    with pytest.raises(PipelineError) as caught:
        parse(edited(two_problems))
    assert len(caught.value.problems) == 2
    assert all(p.startswith("extra/speech.yaml: pipeline speech_to_image: ") for p in caught.value.problems)


def test_yaml_syntax_error_gives_the_line() -> None:
    text = "name: broken\nsteps:\n  - id: a\n   worker: llm\n"
    with pytest.raises(PipelineError, match=r"^my\.yaml: invalid YAML at line 4"):
        parse_pipeline(text, "my.yaml")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text"])
def test_document_must_be_a_mapping(text: str) -> None:
    with pytest.raises(PipelineError, match="a pipeline must be a YAML mapping"):
        parse_pipeline(text, "x.yaml")
