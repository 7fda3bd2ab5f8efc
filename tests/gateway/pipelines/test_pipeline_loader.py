"""Loading: built-ins plus a directory of extra YAML; the registry serves them by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.pipelines import BUILTIN_DIR, PipelineError, PipelineRegistry, load_pipelines

SHOUT = """
name: shout
title: Shout
description: Says your text back, loudly.
inputs:
  text: {type: text, max_length: 200}
steps:
  - id: speak
    worker: tts
    inputs: {text: "{{ inputs.text }}"}
outputs:
  audio: "{{ steps.speak.audio }}"
"""


def test_builtins_only_without_extra_dir() -> None:
    registry = load_pipelines()
    assert len(registry) == len(list(BUILTIN_DIR.glob("*.yaml")))
    assert "shout" not in registry


def test_extra_dir_adds_pipelines(tmp_path: Path) -> None:
    (tmp_path / "shout.yml").write_text(SHOUT)
    (tmp_path / "notes.txt").write_text("not a pipeline")
    registry = load_pipelines(tmp_path)
    assert "shout" in registry and "text_to_text" in registry
    assert registry.get("shout").step("speak").worker == "tts"


def test_extra_overrides_builtin_by_name(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(SHOUT.replace("name: shout", "name: text_to_speech"))
    registry = load_pipelines(tmp_path)
    assert registry.get("text_to_speech").title == "Shout"
    assert len(registry) == len(load_pipelines())


def test_broken_extra_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(SHOUT)
    (tmp_path / "broken.yaml").write_text(SHOUT.replace("worker: tts", "worker: tss"))
    with pytest.raises(PipelineError, match=r"broken\.yaml: pipeline shout: steps\[0\] \(speak\)\.worker"):
        load_pipelines(tmp_path)


def test_two_extras_with_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SHOUT)
    (tmp_path / "b.yaml").write_text(SHOUT)
    with pytest.raises(PipelineError, match=r"b\.yaml: pipeline shout is also defined in .*a\.yaml"):
        load_pipelines(tmp_path)


def test_missing_extra_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        load_pipelines(tmp_path / "nowhere")


def test_registry_lookup_and_order() -> None:
    registry = load_pipelines()
    specs = list(registry)
    assert [s.name for s in specs] == sorted(s.name for s in specs) == registry.names()
    assert registry.all() == specs
    assert registry.get("speech_to_image").name == "speech_to_image"
    with pytest.raises(KeyError):
        registry.get("nope")
    assert "nope" not in registry


def test_empty_registry() -> None:
    assert PipelineRegistry().names() == [] and list(PipelineRegistry()) == []
