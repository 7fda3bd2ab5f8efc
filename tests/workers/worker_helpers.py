"""Helpers for the worker tests: small fake backends, request bodies, problem assertions.

The fakes exist so the kit (what these tests are about) can be driven into every state — loading,
blocked, failing — on demand. The contract suite prefers the real local engines when they load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from workers.image.backends.options import IMAGE_OPTIONS
from workers.kit.backend import Backend, BackendFactory, Call, Result
from workers.kit.contract import Capability, FieldSpec
from workers.kit.media import encode_png
from workers.kit.settings import WorkerSettings
from workers.kit.testing import wav_bytes
from workers.llm.backends.options import LLM_OPTIONS

#: ``make_client(capability, backends, **settings)`` from the ``make_client`` fixture.
AppMaker = Callable[..., TestClient]

FAKE_OPTIONS: dict[str, dict[str, FieldSpec]] = {"llm": LLM_OPTIONS, "image": IMAGE_OPTIONS}


def _fake_outputs(capability: Capability, call: Call) -> Result:
    inputs, options, out = call.inputs, call.options, call.outputs
    if capability == "llm":
        return Result(
            {"text": f"echo: {inputs['text']}"}, input_tokens=len(inputs["text"].split()), output_tokens=2
        )
    if capability == "image":
        image = Image.new("RGB", (options["width"], options["height"]), "teal")
        return Result({"image": out.write("image", encode_png(image), "image/png")})
    if capability == "stt":
        return Result({"text": f"{inputs['audio'].seconds:.2f} seconds of audio", "language": "en"})
    if capability == "tts":
        return Result({"audio": out.write("audio", wav_bytes(0.05 * len(inputs["text"])), "audio/wav")})
    return Result({"image": out.write("image", encode_png(ImageOps.invert(inputs["image"])), "image/png")})


@dataclass
class Controls:
    """Switches a test flips to steer a fake backend."""

    load_gate: threading.Event | None = None
    run_gate: threading.Event | None = None
    load_error: Exception | None = None
    run_error: Exception | None = None
    runs: list[Call] = field(default_factory=list)


class FakeBackend(Backend):
    """Answers like a real backend of ``capability`` would, instantly unless a gate holds it."""

    name = "fake"
    provider = "fake"
    default_model = "fake-model-1"

    def __init__(self, settings: WorkerSettings, capability: Capability, controls: Controls) -> None:
        super().__init__(settings)
        self.capability = capability
        self.controls = controls

    def options(self) -> dict[str, FieldSpec]:
        return FAKE_OPTIONS.get(self.capability, {})

    def load(self) -> None:
        if self.controls.load_gate is not None:
            self.controls.load_gate.wait(10)
        if self.controls.load_error is not None:
            raise self.controls.load_error

    def run(self, call: Call) -> Result:
        self.controls.runs.append(call)
        if self.controls.run_gate is not None:
            self.controls.run_gate.wait(10)
        if self.controls.run_error is not None:
            raise self.controls.run_error
        return _fake_outputs(self.capability, call)


class StreamingFakeBackend(FakeBackend):
    """The llm fake: streams its answer word by word to a streaming caller (``Controls.run_gate`` is waited
    for after the first word; ``run_error`` is raised after it)."""

    streams = True

    def run(self, call: Call) -> Result:
        if not call.streaming:
            return super().run(call)
        self.controls.runs.append(call)
        result = _fake_outputs(self.capability, call)
        text = str(result.outputs["text"])
        words = text.split(" ")
        for index, word in enumerate(words):
            if call.stream(word if index == 0 else " " + word):
                return Result({"text": text[: len(" ".join(words[: index + 1]))]})
            if index == 0 and self.controls.run_gate is not None:
                self.controls.run_gate.wait(10)
            if index == 0 and self.controls.run_error is not None:
                raise self.controls.run_error
        return result


def fake_backends(capability: Capability, controls: Controls | None = None) -> dict[str, BackendFactory]:
    """``{"fake": factory}`` for ``create_worker_app`` (the llm fake streams)."""
    controls = controls or Controls()
    kind = StreamingFakeBackend if capability == "llm" else FakeBackend
    return {"fake": lambda settings: kind(settings, capability, controls)}


def runtime(app: Any) -> Any:
    """The WorkerRuntime behind a worker app."""
    assert isinstance(app, FastAPI)
    return app.state.runtime


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def run_body(inputs: dict[str, Any], options: dict[str, Any] | None = None, **ids: str) -> dict[str, Any]:
    return {
        "job_id": ids.get("job_id", "job-1"),
        "step_id": ids.get("step_id", "step-1"),
        "inputs": inputs,
        "options": options or {},
    }


def assert_problem(response: Any, status: int, *, retryable: bool, detail: str = "") -> dict[str, Any]:
    """The answer is an RFC 9457 problem with this status, ``retryable`` flag and detail fragment."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["retryable"] is retryable
    assert body["type"].startswith("urn:modaline:problem:")
    assert body["title"]
    assert detail.lower() in body["detail"].lower(), body["detail"]
    return dict(body)
