"""The built-in pipelines load, have the right step graph, and describe themselves for the UI."""

from __future__ import annotations

import pytest

from gateway.pipelines import PipelineSpec, load_pipelines

REGISTRY = load_pipelines()

#: pipeline → (its steps in order with their workers, step id → ids it depends on)
EXPECTED: dict[str, tuple[list[tuple[str, str]], dict[str, set[str]]]] = {
    "text_to_text": ([("answer", "llm")], {"answer": set()}),
    "text_to_image": ([("prompt", "llm"), ("draw", "image")], {"prompt": set(), "draw": {"prompt"}}),
    "text_to_speech": ([("speak", "tts")], {"speak": set()}),
    "speech_to_text": ([("transcribe", "stt")], {"transcribe": set()}),
    "speech_to_image": (
        [("transcribe", "stt"), ("prompt", "llm"), ("draw", "image")],
        {"transcribe": set(), "prompt": {"transcribe"}, "draw": {"prompt"}},
    ),
    "image_to_image": ([("restyle", "cyclegan")], {"restyle": set()}),
    "speech_to_speech": (
        [("transcribe", "stt"), ("reply", "llm"), ("speak", "tts")],
        {"transcribe": set(), "reply": {"transcribe"}, "speak": {"reply"}},
    ),
    "text_to_picture_and_speech": ([("draw", "image"), ("speak", "tts")], {"draw": set(), "speak": set()}),
    "text_to_story": (
        [
            ("write", "llm"),
            ("split", "transform:split"),
            ("prompt", "llm"),
            ("draw", "image"),
            ("speak", "tts"),
            ("narrate", "transform:join_audio"),
            ("assemble", "transform:storyboard"),
        ],
        {
            "write": set(),
            "split": {"write"},
            "prompt": {"split"},
            "draw": {"split", "prompt"},
            "speak": {"split"},
            "narrate": {"speak"},
            "assemble": {"split", "draw", "speak"},
        },
    ),
}


def test_exactly_the_documented_builtins_load() -> None:
    assert REGISTRY.names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_step_graph(name: str) -> None:
    spec = REGISTRY.get(name)
    steps, deps = EXPECTED[name]
    assert [(s.id, s.kind) for s in spec.steps] == steps
    assert spec.dependencies() == {k: frozenset(v) for k, v in deps.items()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_is_described_for_people(name: str) -> None:
    spec = REGISTRY.get(name)
    assert spec.title and spec.title != name
    assert len(spec.description) > 20
    for field in spec.inputs.values():
        assert field.title and field.description
        if field.type == "text":
            assert field.max_length is not None
        if field.type in {"image", "audio"}:
            assert field.max_bytes is not None and field.accept


def test_parallel_steps_have_no_dependency_and_start_together() -> None:
    spec = REGISTRY.get("text_to_picture_and_speech")
    assert [s.id for s in spec.ready_steps(done=set(), started=set())] == ["draw", "speak"]


@pytest.mark.parametrize("name", ["text_to_image", "speech_to_image"])
def test_prompt_rewrite_falls_back_to_the_words_given(name: str) -> None:
    spec = REGISTRY.get(name)
    prompt = spec.step("prompt")
    assert prompt.optional and prompt.on_error is not None
    source = "{{ inputs.text }}" if name == "text_to_image" else "{{ steps.transcribe.text }}"
    assert prompt.on_error.use == {"text": source}
    assert not spec.step("draw").optional


def test_style_choices_are_the_offline_workers_styles() -> None:
    """A style the worker does not know would fail every job that picks it, the default first of all."""
    from workers.cyclegan.backends.local import STYLES

    style = REGISTRY.get("image_to_image").inputs["style"]
    assert style.type == "choice" and style.choices == STYLES
    assert style.default in STYLES


def test_public_description_of_speech_to_image() -> None:
    public = REGISTRY.get("speech_to_image").public()
    assert public["name"] == "speech_to_image"
    assert public["outputs"] == {
        "transcript": {"type": "text", "title": "Transcript"},
        "prompt": {"type": "text", "title": "Prompt"},
        "image": {"type": "image", "title": "Image"},
    }
    assert public["steps"] == [
        {"id": "transcribe", "worker": "stt", "optional": False, "map": False},
        {"id": "prompt", "worker": "llm", "optional": True, "map": False},
        {"id": "draw", "worker": "image", "optional": False, "map": False},
    ]
    audio = public["inputs"]["audio"]
    assert audio["type"] == "audio" and audio["required"] is True
    assert audio["max_bytes"] == 50_000_000 and "audio/wav" in audio["accept"]


@pytest.mark.parametrize(
    ("name", "outputs"),
    [
        ("speech_to_speech", {"transcript": "text", "reply": "text", "audio": "audio"}),
        ("text_to_picture_and_speech", {"image": "image", "audio": "audio"}),
        ("speech_to_text", {"transcript": "text", "language": "text"}),
    ],
)
def test_output_types_follow_the_capabilities(name: str, outputs: dict[str, str]) -> None:
    public = REGISTRY.get(name).public()
    assert {k: v["type"] for k, v in public["outputs"].items()} == outputs


def test_output_passing_an_input_through_has_the_input_type() -> None:
    spec = PipelineSpec.model_validate(
        {
            "name": "echo",
            "inputs": {"photo": {"type": "image"}},
            "steps": [{"id": "restyle", "worker": "cyclegan", "inputs": {"image": "{{ inputs.photo }}"}}],
            "outputs": {"original": "{{ inputs.photo }}", "note": "Restyled"},
        }
    )
    assert spec.public()["outputs"]["original"] == {"type": "image", "title": "Original"}
    assert spec.public()["outputs"]["note"]["type"] == "text"
    assert spec.title == "Echo" and spec.inputs["photo"].title == "Photo"


def test_the_story_maps_each_segment_in_parallel_with_fallbacks_for_the_weak_model() -> None:
    """Names other tools rely on: text_to_story, its text input, and its segments/narration/storyboard."""
    spec = REGISTRY.get("text_to_story")
    assert spec.inputs["text"].type == "text" and spec.inputs["text"].required
    assert {"segments", "narration", "storyboard"} <= set(spec.outputs)
    public = spec.public()["outputs"]
    assert public["narration"]["type"] == "audio" and public["storyboard"]["type"] == "file"
    assert public["segments"]["shape"] == {
        "list": {"record": {"text": "text", "image": "image", "audio": "audio"}}
    }
    maps = [s for s in spec.steps if s.is_map]
    assert [s.id for s in maps] == ["prompt", "draw", "speak"]
    assert {s.for_each for s in maps} == {"{{ steps.split.segments }}"}
    assert all(s.parallel == 4 for s in maps)
    assert spec.step("write").on_error.use == {"text": "{{ inputs.text }}"}  # type: ignore[union-attr]
    assert spec.step("prompt").on_error.use == {"text": "{{ segment.text }}"}  # type: ignore[union-attr]
