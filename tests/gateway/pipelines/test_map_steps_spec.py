"""Map steps and transforms in pipeline data: what loads, and every mistake named with file, step and field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from gateway.pipelines import PipelineError, parse_pipeline

BASE: dict[str, Any] = {
    "name": "story",
    "inputs": {"text": {"type": "text", "max_length": 5000}},
    "steps": [
        {
            "id": "split",
            "transform": "split",
            "inputs": {"text": "{{ inputs.text }}"},
            "options": {"by": "lines"},
        },
        {
            "id": "prompt",
            "worker": "llm",
            "for_each": "{{ steps.split.segments }}",
            "as": "segment",
            "max_parallel": 4,
            "inputs": {"text": "Describe scene {{ segment.index }}: {{ segment.text }}"},
        },
        {
            "id": "draw",
            "worker": "image",
            "for_each": "{{ steps.split.segments }}",
            "as": "segment",
            "inputs": {"prompt": "{{ steps.prompt.text }}"},  # same list: the item of the same index
        },
        {
            "id": "speak",
            "worker": "tts",
            "for_each": "{{ steps.draw.image }}",  # a map step's output is a list
            "as": "picture",
            "inputs": {"text": "{{ inputs.text }}"},
        },
        {"id": "sum", "worker": "llm", "inputs": {"text": "{{ steps.split.count }} scenes"}},
    ],
    "outputs": {
        "images": "{{ steps.draw.image }}",
        "prompts": "{{ steps.prompt.text }}",
        "segments": "{{ steps.split.segments }}",
        "summary": "{{ steps.sum.text }}",
    },
}


def parse(data: dict[str, Any]) -> Any:
    return parse_pipeline(yaml.safe_dump(data, sort_keys=False), "extra/story.yaml")


def edited(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def step(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda data: data["steps"][index]


def test_map_steps_load_with_their_types() -> None:
    spec = parse(BASE)
    assert spec.step("prompt").is_map and spec.step("prompt").parallel == 4
    assert spec.step("draw").parallel == 4  # the default
    assert spec.partners("draw") == {"prompt"} and spec.partners("speak") == frozenset()
    assert spec.dependencies()["draw"] == {"split", "prompt"}
    public = spec.public()
    assert public["outputs"]["images"] == {"type": "list", "title": "Images", "shape": {"list": "image"}}
    assert public["outputs"]["segments"]["shape"] == {
        "list": {"record": {"index": "integer", "text": "text"}}
    }
    assert public["outputs"]["summary"]["type"] == "text"
    assert [s["worker"] for s in public["steps"]] == ["transform:split", "llm", "image", "tts", "llm"]
    assert [s["map"] for s in public["steps"]] == [False, True, True, True, False]


CASES: list[tuple[str, Callable[[dict[str, Any]], Any], list[str]]] = [
    (
        "for_each not a list",
        lambda d: step(1)(d).update(for_each="{{ steps.split.count }}"),
        ["steps[1] (prompt).for_each: '{{ steps.split.count }}' is integer, not a list"],
    ),
    (
        "for_each of text",
        lambda d: step(1)(d).update(for_each="{{ inputs.text }}"),
        ["steps[1] (prompt).for_each: '{{ inputs.text }}' is text, not a list"],
    ),
    (
        "for_each with more than a reference",
        lambda d: step(1)(d).update(for_each="all {{ steps.split.segments }}"),
        ["steps[1] (prompt).for_each: must be one reference to a list"],
    ),
    (
        "for_each of an unknown step",
        lambda d: step(1)(d).update(for_each="{{ steps.cut.segments }}"),
        ["steps[1] (prompt).for_each: unknown step 'cut'"],
    ),
    (
        "for_each without as",
        lambda d: step(1)(d).pop("as"),
        ["steps[1] (prompt): a map step (for_each) needs 'as'"],
    ),
    (
        "as without for_each",
        lambda d: step(4)(d).update({"as": "x"}),
        ["steps[4] (sum): 'as' needs 'for_each'"],
    ),
    (
        "max_parallel without for_each",
        lambda d: step(4)(d).update(max_parallel=2),
        ["steps[4] (sum): 'max_parallel' needs 'for_each'"],
    ),
    (
        "max_parallel too high",
        lambda d: step(1)(d).update(max_parallel=33),
        ["steps[1] (prompt).max_parallel: Input should be less than or equal to 32"],
    ),
    (
        "max_parallel zero",
        lambda d: step(1)(d).update(max_parallel=0),
        ["steps[1] (prompt).max_parallel: Input should be greater than or equal to 1"],
    ),
    (
        "as shadows an input",
        lambda d: step(1)(d).update({"as": "text"}),
        ["steps[1] (prompt).as: 'text' is the name of an input or a step"],
    ),
    (
        "as shadows a step",
        lambda d: step(1)(d).update({"as": "draw"}),
        ["steps[1] (prompt).as: 'draw' is the name of an input or a step"],
    ),
    (
        "as is a reserved word",
        lambda d: step(1)(d).update({"as": "steps"}),
        ["steps[1] (prompt).as: 'steps' is a reserved word"],
    ),
    (
        "item field unknown",
        lambda d: step(1)(d)["inputs"].update(text="{{ segment.body }}"),
        [
            "steps[1] (prompt).inputs.text: '{{ segment.body }}': the items have no field 'body' (they have: index, text)"
        ],
    ),
    (
        "item reference outside a map step",
        lambda d: step(4)(d)["inputs"].update(text="{{ segment.text }}"),
        [
            "steps[4] (sum).inputs.text: '{{ segment.text }}' is not a reference: 'segment' is no input, step or map item"
        ],
    ),
    (
        "item reference under another name",
        lambda d: step(1)(d)["inputs"].update(text="{{ scene.text }}"),
        ["steps[1] (prompt).inputs.text: '{{ scene.text }}' is not a reference"],
    ),
    (
        "a field of items that have none",
        lambda d: step(3)(d)["inputs"].update(text="{{ picture.text }}"),
        ["steps[3] (speak).inputs.text: '{{ picture.text }}': the items are image, which has no fields"],
    ),
    (
        "a whole list where text goes",
        lambda d: step(4)(d)["inputs"].update(text="{{ steps.prompt.text }}"),
        [
            "steps[4] (sum).inputs.text: llm input 'text' expects text but '{{ steps.prompt.text }}' is a list of text"
        ],
    ),
    (
        "a list embedded in text",
        lambda d: step(4)(d)["inputs"].update(text="all: {{ steps.split.segments }}"),
        ["steps[4] (sum).inputs.text: '{{ steps.split.segments }}' is a list and cannot be embedded in text"],
    ),
    (
        "a whole record where text goes",
        lambda d: step(1)(d)["inputs"].update(text="{{ segment }}"),
        [
            "steps[1] (prompt).inputs.text: llm input 'text' expects text but '{{ segment }}' is records {index, text}"
        ],
    ),
    (
        "an image item where text goes",
        lambda d: step(3)(d)["inputs"].update(text="{{ picture }}"),
        ["steps[3] (speak).inputs.text: tts input 'text' expects text but '{{ picture }}' is image"],
    ),
    (
        "unknown transform",
        lambda d: step(0)(d).update(transform="chop"),
        [
            "steps[0] (split).transform: unknown transform 'chop'; known transforms: join_audio, split, storyboard"
        ],
    ),
    (
        "worker and transform",
        lambda d: step(0)(d).update(worker="llm"),
        ["steps[0] (split): a step needs exactly one of 'worker' or 'transform'"],
    ),
    (
        "neither worker nor transform",
        lambda d: step(0)(d).pop("transform"),
        ["steps[0] (split): a step needs exactly one of 'worker' or 'transform'"],
    ),
    (
        "unknown transform option",
        lambda d: step(0)(d)["options"].update(size=3),
        ["steps[0] (split).options.size: transform:split has no option 'size' (it takes: by, max_items)"],
    ),
    (
        "bad transform option value",
        lambda d: step(0)(d)["options"].update(by="words"),
        ["steps[0] (split).options.by: 'words' is not one of ['sentences', 'paragraphs', 'lines']"],
    ),
    (
        "option out of range",
        lambda d: step(0)(d)["options"].update(max_items=0),
        ["steps[0] (split).options.max_items: 0 is below 1"],
    ),
    (
        "unknown transform input",
        lambda d: step(0)(d)["inputs"].update(words="x"),
        ["steps[0] (split).inputs.words: transform:split has no input 'words' (it takes: text)"],
    ),
    (
        "unknown key on a map step",
        lambda d: step(1)(d).update(parallel=3),
        ["steps[1] (prompt).parallel: unknown key"],
    ),
    (
        "a cycle through a map step",
        lambda d: step(0)(d)["inputs"].update(text="{{ steps.sum.text }}"),
        ["steps depend on each other in a cycle: split → sum → split"],
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_map_spec_names_the_spot(
    change: Callable[[dict[str, Any]], Any], expected: list[str]
) -> None:
    with pytest.raises(PipelineError) as caught:
        parse(edited(change))
    message = str(caught.value)
    assert message.startswith("extra/story.yaml: pipeline story: ")
    for part in expected:
        assert part in message


def test_the_zip_is_only_between_map_steps_over_the_same_list() -> None:
    """speak maps over draw's images, not over the segments: there prompt's text is a whole list."""
    data = edited(lambda d: step(3)(d)["inputs"].update(text="{{ steps.prompt.text }}"))
    with pytest.raises(PipelineError) as caught:
        parse(data)
    assert "expects text but '{{ steps.prompt.text }}' is a list of text" in str(caught.value)
