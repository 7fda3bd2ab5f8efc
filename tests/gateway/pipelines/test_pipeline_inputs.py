"""Job inputs are checked against the pipeline: defaults, coercion from forms, every problem at once."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.pipelines import InputValidationError, PipelineSpec, load_pipelines, validate_job_inputs

SPEC = PipelineSpec.model_validate(
    {
        "name": "kitchen_sink",
        "inputs": {
            "text": {"type": "text", "max_length": 10},
            "note": {"type": "text", "required": False, "max_length": 100},
            "style": {"type": "choice", "choices": ["candy", "wave"], "default": "wave"},
            "steps": {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
            "strength": {"type": "number", "minimum": 0, "maximum": 1, "required": False},
            "loud": {"type": "boolean", "default": False},
            "photo": {"type": "image", "max_bytes": 1000, "required": False},
        },
        "steps": [{"id": "say", "worker": "llm", "inputs": {"text": "{{ inputs.text }} {{ inputs.note }}"}}],
        "outputs": {"text": "{{ steps.say.text }}"},
    }
)


def problems(inputs: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InputValidationError) as caught:
        validate_job_inputs(SPEC, inputs)
    return {e["field"]: e["message"] for e in caught.value.errors}


def test_defaults_fill_what_is_absent() -> None:
    assert validate_job_inputs(SPEC, {"text": "hi"}) == {
        "text": "hi",
        "note": None,
        "style": "wave",
        "steps": 20,
        "strength": None,
        "loud": False,
        "photo": None,
    }


def test_empty_form_field_counts_as_absent() -> None:
    result = validate_job_inputs(SPEC, {"text": "hi", "style": "", "steps": "", "note": ""})
    assert (result["style"], result["steps"], result["note"]) == ("wave", 20, None)


def test_blank_required_text_is_missing() -> None:
    assert problems({"text": "  \n "}) == {"text": "is required"}


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("steps", "3", 3),
        ("steps", " 7 ", 7),
        ("steps", 4.0, 4),
        ("strength", "0.25", 0.25),
        ("strength", 1, 1),
        ("loud", "true", True),
        ("loud", "On", True),
        ("loud", "0", False),
        ("loud", "no", False),
        ("loud", 1, True),
        ("style", "candy", "candy"),
    ],
)
def test_values_from_forms_are_coerced(name: str, given: Any, expected: Any) -> None:
    result = validate_job_inputs(SPEC, {"text": "hi", name: given})
    assert result[name] == expected and type(result[name]) is type(expected)


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        ("text", "x" * 11, "is 11 characters; the limit is 10"),
        ("text", 12, "must be text"),
        ("style", "mosaic", "must be one of: candy, wave"),
        ("steps", "three", "must be a whole number"),
        ("steps", 2.5, "must be a whole number"),
        ("steps", True, "must be a whole number"),
        ("steps", 0, "must be at least 1"),
        ("steps", "51", "must be at most 50"),
        ("strength", "nan", "must be a finite number"),
        ("strength", 1.5, "must be at most 1"),
        ("loud", "maybe", "must be true or false"),
        ("photo", {"file": "uploads/a", "content_type": "image/gif", "bytes": 5}, "must be one of image/png"),
        (
            "photo",
            {"file": "uploads/a", "content_type": "image/png", "bytes": 5000},
            "is 5.0 kB; the limit is 1.0 kB",
        ),
    ],
)
def test_bad_value_is_explained(name: str, given: Any, message: str) -> None:
    inputs = {"text": "hi", name: given}
    assert message in problems(inputs)[name]


def test_every_problem_is_reported_together() -> None:
    found = problems({"style": "mosaic", "steps": "x", "colour": "red", "size": 3})
    assert found == {
        "text": "is required",
        "style": "must be one of: candy, wave",
        "steps": "must be a whole number",
        "colour": "is not an input of pipeline 'kitchen_sink'",
        "size": "is not an input of pipeline 'kitchen_sink'",
    }


def test_file_record_within_limits_passes_unchanged() -> None:
    record = {
        "file": "uploads/abc",
        "content_type": "image/png; charset=binary",
        "bytes": 999,
        "sha256": "0" * 64,
    }
    assert validate_job_inputs(SPEC, {"text": "hi", "photo": record})["photo"] is record


@pytest.mark.parametrize("inputs", [{}, {"audio": None}, {"audio": ""}, {"audio": {}}])
def test_required_file_input_must_be_present(inputs: dict[str, Any]) -> None:
    spec = load_pipelines().get("speech_to_text")
    with pytest.raises(InputValidationError) as caught:
        validate_job_inputs(spec, inputs)
    assert caught.value.errors == [{"field": "audio", "message": "is required"}]


@pytest.mark.parametrize(
    ("accept", "ok"), [(["audio/*"], True), (["audio/wav"], True), (["audio/mpeg"], False)]
)
def test_accept_may_use_a_wildcard(accept: list[str], ok: bool) -> None:
    spec = PipelineSpec.model_validate(
        {
            "name": "listen",
            "inputs": {"voice": {"type": "audio", "accept": accept}},
            "steps": [{"id": "hear", "worker": "stt", "inputs": {"audio": "{{ inputs.voice }}"}}],
            "outputs": {"text": "{{ steps.hear.text }}"},
        }
    )
    record = {"file": "uploads/v", "content_type": "audio/wav", "bytes": 10, "sha256": "0" * 64}
    if ok:
        assert validate_job_inputs(spec, {"voice": record})["voice"] == record
    else:
        with pytest.raises(InputValidationError, match="must be one of audio/mpeg, not audio/wav"):
            validate_job_inputs(spec, {"voice": record})
