"""One suite for the worker contract (``workers/kit/README.md``), parametrized over the five capabilities.

Each test drives a worker app built by the kit. The happy-path and bad-input tests use the real local
engine when it loads on this machine (the `local` extra) and a small fake backend otherwise; tests that need
to hold a backend in a given state (loading, busy, failing) always use the fake.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import importlib
import threading
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from worker_helpers import AppMaker, Controls, assert_problem, fake_backends, run_body, runtime, wait_until

from workers.kit.backend import Backend, BackendFactory
from workers.kit.contract import CAPABILITIES, CAPABILITY_IO, Capability, FileRef, RunResponse, WorkerInfo
from workers.kit.errors import InvalidInput
from workers.kit.settings import load_settings
from workers.kit.testing import png_bytes, put_file, wav_bytes


@dataclass(frozen=True)
class Case:
    """What a valid run and a typical mistake look like for one capability."""

    good: Callable[[Path], dict[str, Any]]
    options: dict[str, Any]
    bad: Callable[[Path], dict[str, Any]]
    bad_detail: str


def _audio(root: Path) -> dict[str, Any]:
    return {"audio": put_file(root, "uploads/speech", _speech(), "audio/wav")}


@functools.cache
def _speech() -> bytes:
    """Real speech when the local tts engine loads (Whisper decodes a pure tone slowly), else a tone."""
    tts = _real_local("tts")
    if tts is not None and _real_local("stt") is not None:
        return bytes(tts.engine.synthesize("Hello there.", None, 1.0))  # type: ignore[attr-defined]
    return wav_bytes(1.0)


def _image(root: Path) -> dict[str, Any]:
    return {"image": put_file(root, "uploads/photo", png_bytes(64, 48), "image/png"), "style": None}


CASES: dict[Capability, Case] = {
    "llm": Case(
        lambda _: {"text": "Say hello in one word."}, {"max_tokens": 8}, lambda _: {"text": 42}, "string"
    ),
    "image": Case(
        lambda _: {"prompt": "a red fox"}, {"width": 96, "height": 64}, lambda _: {}, "'prompt' is required"
    ),
    "stt": Case(
        _audio,
        {},
        lambda root: {"audio": put_file(root, "uploads/not-audio", png_bytes(), "audio/wav")},
        "not an audio file",
    ),
    "tts": Case(lambda _: {"text": "Hello there."}, {}, lambda _: {"text": "x" * 5001}, "limit is 5000"),
    "cyclegan": Case(
        _image,
        {},
        lambda root: {"image": put_file(root, "uploads/broken", png_bytes()[:60], "image/png")},
        "not a readable image",
    ),
}

_LOADED: dict[Capability, Backend | None] = {}


def _real_local(capability: Capability) -> Backend | None:
    """The real local backend, loaded once per test session; None when its engine does not load here."""
    if capability not in _LOADED:
        module = importlib.import_module(f"workers.{capability}.backends")
        backend = module.BACKENDS["local"](load_settings(capability))
        try:
            backend.load()
        except Exception:
            _LOADED[capability] = None
        else:
            _LOADED[capability] = backend
    return _LOADED[capability]


@pytest.fixture(scope="module", autouse=True)
def _free_engines_after_the_module() -> Iterator[None]:
    """Free loaded engines while the interpreter is whole (llama.cpp's finalizer fails at exit)."""
    yield
    _LOADED.clear()
    _speech.cache_clear()
    gc.collect()


def preferred_backends(capability: Capability) -> dict[str, BackendFactory]:
    """The real local engine when it loads, else the fake."""
    real = _real_local(capability)
    if real is None:
        return fake_backends(capability)
    return {"local": lambda settings: real}


def _check_file(root: Path, ref: dict[str, Any], job: str, step: str, name: str) -> Path:
    parsed = FileRef.model_validate(ref)
    assert parsed.file.startswith(f"jobs/{job}/{step}/{name}.")
    path = root / parsed.file
    data = path.read_bytes()
    assert len(data) == parsed.bytes
    assert hashlib.sha256(data).hexdigest() == parsed.sha256
    return path


every_worker = pytest.mark.parametrize("capability", CAPABILITIES)
file_workers = pytest.mark.parametrize("capability", ["stt", "cyclegan"])  # the ones with file inputs


@every_worker
def test_healthz_answers_while_the_process_lives(capability: Capability, make_client: AppMaker) -> None:
    client = make_client(capability, fake_backends(capability))
    assert client.get("/healthz").json() == {"status": "ok"}


@every_worker
def test_readyz_is_503_with_a_reason_while_the_model_loads(
    capability: Capability, make_client: AppMaker
) -> None:
    gate = threading.Event()
    client = make_client(capability, fake_backends(capability, Controls(load_gate=gate)), wait=False)
    try:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert "loading" in answer.json()["reason"]
        assert_problem(
            client.post("/v1/run", json=run_body({})),
            503,
            retryable=True,
            detail="loading",
        )
    finally:
        gate.set()
    assert runtime(client.app).wait_loaded(5)
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "backend": "fake", "model": "fake-model-1"}


@every_worker
def test_readyz_reports_a_failed_load(capability: Capability, make_client: AppMaker) -> None:
    client = make_client(
        capability, fake_backends(capability, Controls(load_error=RuntimeError("weights corrupt")))
    )
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == "model failed to load: weights corrupt"


@every_worker
def test_readyz_names_the_missing_local_engine(capability: Capability, make_client: AppMaker) -> None:
    module = importlib.import_module(f"workers.{capability}.backends")
    local = module.BACKENDS["local"]
    missing = type("MissingEngine", (local,), {"engine_module": "modaline_engine_that_is_not_installed"})
    client = make_client(capability, {"local": missing})
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"].startswith("local engine not installed: pip install '.[local]'")


@every_worker
def test_info_declares_the_capability_io_and_backend(capability: Capability, make_client: AppMaker) -> None:
    client = make_client(capability, preferred_backends(capability))
    info = WorkerInfo.model_validate(client.get("/v1/info").json())
    takes, gives = CAPABILITY_IO[capability]
    assert info.capability == capability
    assert info.inputs == takes
    assert info.outputs == gives
    assert info.backend in ("local", "fake")
    assert info.model
    for spec in info.options.values():
        assert spec.type in ("text", "choice", "integer", "number", "boolean")
    if info.backend == "local" and capability in ("tts", "cyclegan"):  # the UI draws its pickers from these
        choices = info.options["voice" if capability == "tts" else "style"].choices
        assert choices and all(isinstance(choice, str) for choice in choices)


@every_worker
def test_run_happy_path_writes_outputs_and_reports_usage(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    case = CASES[capability]
    client = make_client(capability, preferred_backends(capability))
    answer = client.post(
        "/v1/run", json=run_body(case.good(files_root), case.options, job_id="j-7", step_id="draw")
    )
    assert answer.status_code == 200, answer.text
    result = RunResponse.model_validate(answer.json())
    assert result.usage.provider in ("local", "fake")
    assert result.usage.model == client.get("/v1/info").json()["model"]
    assert result.usage.seconds > 0
    for name, spec in CAPABILITY_IO[capability][1].items():
        value = result.outputs.get(name)
        if spec.type == "text" and spec.required:
            assert isinstance(value, str)
        if spec.type in ("image", "audio"):
            assert isinstance(value, dict)
            path = _check_file(files_root, value, "j-7", "draw", name)
            _check_media(capability, spec.type, path, case, files_root)
    if capability == "image":
        assert result.placeholder == runtime(client.app).backend.placeholder


def _check_media(capability: Capability, kind: str, path: Path, case: Case, root: Path) -> None:
    if kind == "audio":
        with wave.open(str(path)) as wav:
            assert wav.getnframes() > 0
        return
    with Image.open(path) as image:
        image.load()
        if capability == "image":
            assert image.size == (case.options["width"], case.options["height"])
        else:
            assert image.size == (64, 48)  # same size as the input


@every_worker
def test_bad_input_is_a_422_problem_saying_what_is_wrong(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    case = CASES[capability]
    client = make_client(capability, preferred_backends(capability))
    assert_problem(
        client.post("/v1/run", json=run_body(case.bad(files_root))),
        422,
        retryable=False,
        detail=case.bad_detail,
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="bad-json"),
        pytest.param(b'{"step_id": "s", "inputs": {}}', id="no-job-id"),
        pytest.param(b'{"job_id": "j", "step_id": "s", "inputs": []}', id="inputs-not-object"),
    ],
)
@every_worker
def test_malformed_request_is_a_422_problem(
    capability: Capability, make_client: AppMaker, body: bytes
) -> None:
    client = make_client(capability, fake_backends(capability))
    answer = client.post("/v1/run", content=body, headers={"content-type": "application/json"})
    assert_problem(answer, 422, retryable=False, detail="invalid request")


@every_worker
def test_unknown_inputs_and_options_are_refused(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    case = CASES[capability]
    client = make_client(capability, fake_backends(capability))
    body = run_body({**case.good(files_root), "colour": "red"})
    assert_problem(
        client.post("/v1/run", json=body), 422, retryable=False, detail="unknown input(s) 'colour'"
    )
    body = run_body(case.good(files_root), {"loudness": 11})
    assert_problem(
        client.post("/v1/run", json=body), 422, retryable=False, detail="unknown option(s) 'loudness'"
    )


@pytest.mark.parametrize("job_id", ["../../escape", "a/b", ".."])
@every_worker
def test_ids_that_would_escape_the_output_directory_are_refused(
    capability: Capability, make_client: AppMaker, files_root: Path, job_id: str
) -> None:
    controls = Controls()
    client = make_client(capability, fake_backends(capability, controls))
    body = run_body(CASES[capability].good(files_root), CASES[capability].options, job_id=job_id)
    assert_problem(client.post("/v1/run", json=body), 422, retryable=False, detail="job_id")
    assert controls.runs == []
    assert not (files_root.parent / "escape").exists()


@file_workers
def test_input_paths_that_escape_the_files_root_are_refused(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    kind = "audio" if capability == "stt" else "image"
    data = wav_bytes(0.2) if kind == "audio" else png_bytes()
    outside = put_file(files_root.parent, "secret.bin", data, f"{kind}/x")
    (files_root / "link").symlink_to(files_root.parent / "secret.bin")
    controls = Controls()
    client = make_client(capability, fake_backends(capability, controls))
    for path, detail in (
        ("../secret.bin", "without '..'"),
        ("/etc/passwd", "without '..'"),
        ("link", "outside"),
    ):
        body = run_body({kind: {**outside, "file": path}})
        assert_problem(client.post("/v1/run", json=body), 422, retryable=False, detail=detail)
    assert controls.runs == []


@file_workers
def test_file_refs_must_match_the_file(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    kind = "audio" if capability == "stt" else "image"
    client = make_client(capability, fake_backends(capability))
    ref = (_audio if kind == "audio" else _image)(files_root)[kind]
    cases = [
        ({**ref, "file": "uploads/nope"}, "does not exist"),
        ({**ref, "bytes": ref["bytes"] + 1}, "reference says"),
        ({**ref, "sha256": "0" * 64}, "sha256"),
        ({"file": ref["file"]}, "not a valid file reference"),
        ("uploads/speech", "must be a file reference"),
    ]
    for value, detail in cases:
        assert_problem(
            client.post("/v1/run", json=run_body({kind: value})), 422, retryable=False, detail=detail
        )


@every_worker
def test_runs_beyond_the_concurrency_limit_get_429_with_retry_after(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    gate = threading.Event()
    controls = Controls(run_gate=gate)
    client = make_client(capability, fake_backends(capability, controls), max_concurrency=1)
    case = CASES[capability]
    body = run_body(case.good(files_root), case.options)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/v1/run", json=body)
        try:
            # Wait until the first run is inside the backend, its input files read: admission alone is not
            # enough, and writing its input again (another case.good) while it reads would fail it and free
            # its slot. The second request is refused before its inputs are looked at, so it reuses them.
            wait_until(lambda: len(controls.runs) == 1)
            assert _gauge(client, "modaline_worker_in_flight") == 1.0
            busy = client.post("/v1/run", json=run_body(body["inputs"], case.options, step_id="again"))
            assert_problem(busy, 429, retryable=True, detail="already in progress")
            assert busy.headers["retry-after"] == "1"
        finally:
            gate.set()
        assert first.result(10).status_code == 200
    assert client.post("/v1/run", json=body).status_code == 200


@every_worker
def test_a_run_over_the_time_limit_is_a_retryable_504_and_keeps_its_slot(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    gate = threading.Event()
    client = make_client(
        capability, fake_backends(capability, Controls(run_gate=gate)), max_concurrency=1, timeout_seconds=0.2
    )
    case = CASES[capability]
    body = run_body(case.good(files_root), case.options)
    try:
        assert_problem(client.post("/v1/run", json=body), 504, retryable=True, detail="longer than 0.2 s")
        # The abandoned thread still runs: the slot stays taken until it ends, so the limit really holds.
        assert_problem(client.post("/v1/run", json=body), 429, retryable=True)
    finally:
        gate.set()
    wait_until(lambda: _gauge(client, "modaline_worker_in_flight") == 0.0)
    # The slot is free again. The next run must not race the 0.2 s budget on a busy machine: give it time.
    runtime(client.app).settings.timeout_seconds = 60.0
    assert client.post("/v1/run", json=body).status_code == 200


@every_worker
def test_backend_invalid_input_and_crashes_become_problems(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    controls = Controls(run_error=InvalidInput("the engine cannot say that"))
    client = make_client(capability, fake_backends(capability, controls))
    body = run_body(CASES[capability].good(files_root), CASES[capability].options)
    assert_problem(client.post("/v1/run", json=body), 422, retryable=False, detail="cannot say that")
    controls.run_error = ZeroDivisionError("boom")
    assert_problem(client.post("/v1/run", json=body), 500, retryable=False, detail="ZeroDivisionError")


@every_worker
def test_metrics_count_runs_errors_and_latency(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    client = make_client(capability, fake_backends(capability))
    case = CASES[capability]
    assert client.post("/v1/run", json=run_body(case.good(files_root), case.options)).status_code == 200
    assert client.post("/v1/run", json=run_body(case.bad(files_root))).status_code == 422
    labels = f'backend="fake",capability="{capability}"'
    text = client.get("/metrics").text
    assert f'modaline_worker_runs_total{{{labels},outcome="succeeded"}} 1.0' in text
    assert f'modaline_worker_runs_total{{{labels},outcome="failed"}} 1.0' in text
    assert f'modaline_worker_errors_total{{{labels},type="invalid-input"}} 1.0' in text
    assert f"modaline_worker_run_seconds_count{{{labels}}} 1.0" in text
    assert f"modaline_worker_ready{{{labels}}} 1.0" in text
    assert f"modaline_worker_in_flight{{{labels}}} 0.0" in text
    assert f"modaline_worker_max_concurrency{{{labels}}} 2.0" in text
    # The backend's own call: timed once (the bad input never reached it), no backend error yet.
    assert f'modaline_worker_backend_duration_seconds_count{{{labels},outcome="ok"}} 1.0' in text
    assert "modaline_worker_backend_errors_total{" not in text


@every_worker
def test_metrics_time_each_backend_call_and_count_its_errors_by_type(
    capability: Capability, make_client: AppMaker, files_root: Path
) -> None:
    controls = Controls(run_error=InvalidInput("the engine cannot say that"))
    client = make_client(capability, fake_backends(capability, controls))
    body = run_body(CASES[capability].good(files_root), CASES[capability].options)
    assert client.post("/v1/run", json=body).status_code == 422
    controls.run_error = ZeroDivisionError("boom")
    assert client.post("/v1/run", json=body).status_code == 500
    controls.run_error = None
    assert client.post("/v1/run", json=body).status_code == 200
    labels = f'backend="fake",capability="{capability}"'
    text = client.get("/metrics").text
    assert f'modaline_worker_backend_errors_total{{{labels},type="invalid-input"}} 1.0' in text
    assert f'modaline_worker_backend_errors_total{{{labels},type="internal"}} 1.0' in text
    assert f'modaline_worker_backend_duration_seconds_count{{{labels},outcome="error"}} 2.0' in text
    assert f'modaline_worker_backend_duration_seconds_count{{{labels},outcome="ok"}} 1.0' in text


def _gauge(client: Any, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


@every_worker
def test_unknown_routes_and_methods_are_problems_too(capability: Capability, make_client: AppMaker) -> None:
    client = make_client(capability, fake_backends(capability))
    assert_problem(client.get("/v1/nothing-here"), 404, retryable=False)
    assert_problem(client.get("/v1/run"), 405, retryable=False)


def test_one_workers_output_file_is_the_next_workers_input(make_client: AppMaker, files_root: Path) -> None:
    """What the gateway does: hand a step's FileRef, untouched, to the next step (tts → stt, image → cyclegan)."""
    tts = make_client("tts", preferred_backends("tts"))
    stt = make_client("stt", preferred_backends("stt"))
    spoken = tts.post(
        "/v1/run", json=run_body({"text": "The weather is sunny and warm today."}, step_id="say")
    )
    assert spoken.status_code == 200, spoken.text
    heard = stt.post("/v1/run", json=run_body({"audio": spoken.json()["outputs"]["audio"]}, step_id="hear"))
    assert heard.status_code == 200, heard.text
    text = heard.json()["outputs"]["text"]
    if heard.json()["usage"]["provider"] == "local" and spoken.json()["usage"]["provider"] == "local":
        assert {"weather", "sunny", "warm"} <= set(text.lower().replace(".", "").replace(",", "").split())
    else:
        assert text.endswith("seconds of audio")

    image = make_client("image", preferred_backends("image"))
    style = make_client("cyclegan", preferred_backends("cyclegan"))
    drawn = image.post(
        "/v1/run", json=run_body({"prompt": "a boat"}, {"width": 128, "height": 96}, step_id="draw")
    )
    assert drawn.status_code == 200, drawn.text
    styled = style.post(
        "/v1/run", json=run_body({"image": drawn.json()["outputs"]["image"]}, step_id="paint")
    )
    assert styled.status_code == 200, styled.text
    with Image.open(files_root / styled.json()["outputs"]["image"]["file"]) as out:
        assert out.size == (128, 96)
