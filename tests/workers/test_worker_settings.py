"""Worker settings, backend selection, option checking and the ``python -m workers`` entry point."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from workers.__main__ import main
from workers.kit.app import create_worker_app
from workers.kit.contract import FieldSpec
from workers.kit.errors import InvalidInput
from workers.kit.inputs import check_value, prepare_options
from workers.kit.settings import load_settings
from workers.tts.backends import BACKENDS as TTS

ROOT = Path(__file__).resolve().parents[2]


def test_each_capability_reads_its_own_prefix_and_the_shared_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_MAX_CONCURRENCY", "5")
    monkeypatch.setenv("TTS_BACKEND", " HF ")
    monkeypatch.setenv("TTS_MODEL", "acme/voice")
    monkeypatch.setenv("LLM_MAX_CONCURRENCY", "9")
    monkeypatch.setenv("HF_TOKEN", "hf_abc")
    monkeypatch.setenv("MODALINE_FILES_ROOT", "/srv/files")
    tts = load_settings("tts")
    assert (tts.max_concurrency, tts.backend, tts.model) == (5, "hf", "acme/voice")
    assert tts.secret("hf_token") == "hf_abc"
    assert tts.files_root == Path("/srv/files")
    assert load_settings("stt").max_concurrency == 2  # the default; LLM_/TTS_ values do not leak across
    assert load_settings("llm").max_concurrency == 9


def test_keys_never_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-secret")
    assert "sk-or-secret" not in repr(load_settings("llm"))


@pytest.mark.parametrize(
    ("name", "value"),
    [("LLM_MAX_CONCURRENCY", "0"), ("LLM_TIMEOUT_SECONDS", "-1"), ("LLM_MAX_CONCURRENCY", "many")],
)
def test_unsafe_values_fail_at_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load_settings("llm")


def test_an_unknown_backend_name_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="backend 'piper' is not one of auto, hf, local"):
        create_worker_app("tts", TTS, settings=load_settings("tts", backend="piper", files_root=tmp_path))


INTEGER = FieldSpec(type="integer", minimum=1, maximum=10)
NUMBER = FieldSpec(type="number", minimum=0, maximum=2)
CHOICE = FieldSpec(type="choice", choices=["a", "b"])


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        (INTEGER, 1.5, "must be an integer"),
        (INTEGER, True, "must be an integer"),
        (INTEGER, "3", "must be an integer"),
        (INTEGER, 11, "at most 10"),
        (INTEGER, 0, "at least 1"),
        (NUMBER, "1", "must be a number"),
        (NUMBER, 2.5, "at most 2"),
        (CHOICE, "c", "must be one of a, b"),
        (FieldSpec(type="boolean"), 1, "true or false"),
        (FieldSpec(type="text", max_length=3), "long", "limit is 3"),
    ],
)
def test_option_values_are_checked_against_their_spec(spec: FieldSpec, value: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_value("option 'x'", value, spec)


def test_options_get_their_defaults_and_integers_from_whole_floats() -> None:
    specs = {"n": FieldSpec(type="integer", default=4), "t": FieldSpec(type="number", default=0.5)}
    assert prepare_options({}, specs) == {"n": 4, "t": 0.5}
    assert prepare_options({"n": 3.0, "t": 1}, specs) == {"n": 3, "t": 1.0}


def test_main_serves_the_named_worker_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("PORT", "18123")
    monkeypatch.setenv("WORKER_HOST", "0.0.0.0")
    main(["stt"])
    ((app, kw),) = calls
    assert app == "workers.stt.app:create_app"
    assert (kw["factory"], kw["host"], kw["port"]) == (True, "0.0.0.0", 18123)


def test_main_refuses_an_unknown_capability(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["video"])
    assert "invalid choice: 'video'" in capsys.readouterr().err


def _free_port() -> int:
    """A port the OS just handed out, so runs in parallel (or other servers) do not pick the same one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_python_m_workers_starts_a_real_server(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "MODALINE_FILES_ROOT": str(tmp_path), "IMAGE_BACKEND": "local"}
    process = subprocess.Popen(
        [sys.executable, "-m", "workers", "image"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        ready = _poll(f"http://127.0.0.1:{port}/readyz", deadline=time.monotonic() + 60)
        assert ready == {"status": "ready", "backend": "local", "model": "procedural-placeholder-v1"}
        assert process.poll() is None, "the answer came from another server: ours exited"
    finally:
        process.terminate()
        process.wait(10)


def _poll(url: str, deadline: float) -> Any:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return json.load(answer)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
