"""The image, stt, tts and cyclegan workers' Hugging Face backends, through the real ``InferenceClient``.

``huggingface_hub`` sends every request through one shared ``httpx2.Client``; the fixture swaps in a client
with a MockTransport (``set_client_factory``) and restores the default afterwards.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import huggingface_hub
import pytest
from fastapi.testclient import TestClient
from huggingface_hub.utils._http import default_client_factory
from PIL import Image
from worker_helpers import AppMaker, assert_problem, run_body

from workers.cyclegan.backends import BACKENDS as CYCLEGAN
from workers.image.backends import BACKENDS as IMAGE
from workers.kit.backend import select_backend
from workers.kit.contract import Capability
from workers.kit.settings import load_settings
from workers.kit.testing import png_bytes, put_file, wav_bytes
from workers.stt.backends import BACKENDS as STT
from workers.tts.backends import BACKENDS as TTS

Handler = Callable[[httpx2.Request], httpx2.Response]
TOKEN = "hf_test_token"
ROUTER = "https://router.huggingface.co/hf-inference/models"
HF_BACKENDS = {"image": IMAGE, "stt": STT, "tts": TTS, "cyclegan": CYCLEGAN}


@pytest.fixture
def hf(make_client: AppMaker) -> Iterator[Callable[..., TestClient]]:
    """``hf(capability, handler, **settings)`` → a started worker whose hf backend talks to ``handler``."""

    def make(capability: Capability, handler: Handler, **settings: Any) -> TestClient:
        huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handler)))
        settings.setdefault("hf_token", TOKEN)
        return make_client(capability, {"hf": HF_BACKENDS[capability]["hf"]}, **settings)

    yield make
    huggingface_hub.set_client_factory(default_client_factory)
    huggingface_hub.close_session()


def _png_response(size: tuple[int, int] = (96, 64)) -> httpx2.Response:
    buffer = io.BytesIO()
    Image.new("RGB", size, "purple").save(buffer, format="PNG")
    return httpx2.Response(200, content=buffer.getvalue(), headers={"content-type": "image/png"})


def _recording(seen: list[httpx2.Request], response: httpx2.Response) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return response

    return handler


def _common(request: httpx2.Request, model: str) -> None:
    assert request.method == "POST"
    assert str(request.url) == f"{ROUTER}/{model}"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def _read_output(root: Path, ref: dict[str, Any]) -> bytes:
    data = (root / ref["file"]).read_bytes()
    assert len(data) == ref["bytes"]
    return data


def test_image_posts_prompt_and_parameters_and_stores_the_png(hf: Any, files_root: Path) -> None:
    seen: list[httpx2.Request] = []
    client = hf("image", _recording(seen, _png_response()), model="stabilityai/sdxl-turbo")
    body = run_body({"prompt": "a lighthouse at dusk"}, {"width": 96, "height": 64, "seed": 7})
    answer = client.post("/v1/run", json=body)

    assert answer.status_code == 200, answer.text
    (request,) = seen
    _common(request, "stabilityai/sdxl-turbo")
    assert request.headers["accept"] == "image/png"
    sent = json.loads(request.content)
    assert sent == {"inputs": "a lighthouse at dusk", "parameters": {"width": 96, "height": 64, "seed": 7}}
    ref = answer.json()["outputs"]["image"]
    assert ref["file"] == "jobs/job-1/step-1/image.png"
    with Image.open(io.BytesIO(_read_output(files_root, ref))) as image:
        assert image.size == (96, 64)
    assert answer.json()["usage"] == {
        "provider": "hf-inference",
        "model": "stabilityai/sdxl-turbo",
        "seconds": answer.json()["usage"]["seconds"],
    }
    assert answer.json()["placeholder"] is False


def test_stt_posts_the_raw_audio_and_returns_the_text(hf: Any, files_root: Path) -> None:
    seen: list[httpx2.Request] = []
    audio = wav_bytes(0.5)
    client = hf("stt", _recording(seen, httpx2.Response(200, json={"text": " Hello world. "})))
    answer = client.post(
        "/v1/run", json=run_body({"audio": put_file(files_root, "uploads/a1", audio, "audio/wav")})
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == {"text": "Hello world.", "language": None}
    (request,) = seen
    _common(request, "openai/whisper-large-v3-turbo")
    assert request.content == audio


def test_tts_posts_the_text_and_stores_audio_in_the_returned_format(hf: Any, files_root: Path) -> None:
    seen: list[httpx2.Request] = []
    flac = b"fLaC\x00\x00\x00\x22" + bytes(64)
    client = hf(
        "tts", _recording(seen, httpx2.Response(200, content=flac, headers={"content-type": "audio/flac"}))
    )
    answer = client.post("/v1/run", json=run_body({"text": "Good morning."}))

    assert answer.status_code == 200, answer.text
    (request,) = seen
    _common(request, "facebook/mms-tts-eng")
    assert json.loads(request.content)["inputs"] == "Good morning."
    ref = answer.json()["outputs"]["audio"]
    assert (ref["file"], ref["content_type"]) == ("jobs/job-1/step-1/audio.flac", "audio/flac")
    assert _read_output(files_root, ref) == flac


def test_tts_refuses_an_answer_that_is_not_audio(hf: Any) -> None:
    client = hf("tts", lambda request: httpx2.Response(200, content=b"<html>oops</html>"))
    assert_problem(
        client.post("/v1/run", json=run_body({"text": "hi"})), 502, retryable=False, detail="not audio"
    )


def test_cyclegan_sends_the_image_with_the_style_and_keeps_the_input_size(hf: Any, files_root: Path) -> None:
    seen: list[httpx2.Request] = []
    client = hf("cyclegan", _recording(seen, _png_response((128, 128))))
    source = put_file(files_root, "uploads/photo", png_bytes(64, 48), "image/png")
    answer = client.post("/v1/run", json=run_body({"image": source, "style": "a watercolour"}))

    assert answer.status_code == 200, answer.text
    (request,) = seen
    _common(request, "timbrooks/instruct-pix2pix")
    sent = json.loads(request.content)
    assert sent["parameters"] == {"prompt": "Turn this into a watercolour"}
    with Image.open(io.BytesIO(base64.b64decode(sent["inputs"]))) as image:
        assert image.size == (64, 48)
    with Image.open(io.BytesIO(_read_output(files_root, answer.json()["outputs"]["image"]))) as out:
        assert out.size == (64, 48)


def test_a_full_model_url_is_used_as_is(hf: Any) -> None:
    seen: list[httpx2.Request] = []
    endpoint = "https://my-endpoint.endpoints.huggingface.cloud"
    client = hf("tts", _recording(seen, httpx2.Response(200, content=wav_bytes(0.1))), model=endpoint)
    assert client.post("/v1/run", json=run_body({"text": "hi"})).status_code == 200
    assert str(seen[0].url) == endpoint


def _inputs(capability: Capability, root: Path) -> dict[str, Any]:
    if capability == "stt":
        return {"audio": put_file(root, "uploads/a", wav_bytes(0.2), "audio/wav")}
    if capability == "cyclegan":
        return {"image": put_file(root, "uploads/i", png_bytes(), "image/png")}
    return {"prompt": "x"} if capability == "image" else {"text": "x"}


def _error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx2.Response(status, json=body, headers=headers)


def _raise(exc_type: type[Exception]) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise exc_type("simulated", request=request)  # type: ignore[call-arg]

    return handler


@pytest.mark.parametrize("capability", list(HF_BACKENDS))
@pytest.mark.parametrize(
    ("handler", "status", "retryable", "retry_after"),
    [
        (_error(400, {"error": "Input is too long"}), 422, False, None),
        (_error(401, {"error": "Invalid credentials in Authorization header"}), 502, False, None),
        (_error(403, {"error": "This model is gated"}), 502, False, None),
        (_error(404, {"error": "Model acme/nope does not exist"}), 502, False, None),
        (_error(429, {"error": "Rate limit reached"}, {"retry-after": "12"}), 429, True, "12"),
        (_error(500, {"error": "CUDA out of memory"}), 502, True, None),
        (_error(503, {"error": "Model is currently loading", "estimated_time": 20.5}), 503, True, "21"),
        (_error(504, {"error": "Gateway timeout"}), 504, True, None),
        (_raise(httpx2.ReadTimeout), 504, True, None),
        (_raise(httpx2.ConnectError), 503, True, None),
    ],
    ids=["400", "401", "403", "404", "429", "500", "503-loading", "504", "timeout", "connection"],
)
def test_provider_errors_map_to_contract_problems(
    hf: Any,
    files_root: Path,
    capability: Capability,
    handler: Handler,
    status: int,
    retryable: bool,
    retry_after: str | None,
) -> None:
    client = hf(capability, handler)
    answer = client.post("/v1/run", json=run_body(_inputs(capability, files_root)))
    body = assert_problem(answer, status, retryable=retryable, detail="Hugging Face Inference")
    assert answer.headers.get("retry-after") == retry_after
    assert TOKEN not in answer.text
    assert body["type"].startswith("urn:modaline:problem:upstream-")


@pytest.mark.parametrize("capability", list(HF_BACKENDS))
def test_without_hf_token_the_hf_backend_is_not_ready(capability: Capability, make_client: AppMaker) -> None:
    client = make_client(capability, HF_BACKENDS[capability], backend="hf", hf_token=None, wait=False)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == "HF_TOKEN is not set (needed by the 'hf' backend)"


@pytest.mark.parametrize("capability", list(HF_BACKENDS))
def test_auto_picks_hf_only_when_the_token_is_set(capability: Capability) -> None:
    backends = dict(HF_BACKENDS[capability])
    assert select_backend(load_settings(capability, hf_token=None), backends).name == "local"
    assert select_backend(load_settings(capability, hf_token=TOKEN), backends).name == "hf"
    with pytest.raises(ValueError, match="not one of auto, hf, local"):
        select_backend(load_settings(capability, backend="openai"), backends)


@pytest.mark.parametrize(
    ("capability", "response", "detail"),
    [
        ("image", httpx2.Response(200, content=b"<html>maintenance</html>"), "could not be read"),
        ("cyclegan", httpx2.Response(200, content=b"not an image"), "could not be read"),
        ("stt", httpx2.Response(200, json={"error": "audio too short"}), "no transcript: audio too short"),
        ("stt", httpx2.Response(200, json=[1, 2]), "could not be read"),
    ],
    ids=["image-html", "cyclegan-garbage", "stt-error-body", "stt-wrong-shape"],
)
def test_a_200_answer_that_cannot_be_read_is_an_upstream_error(
    hf: Any, files_root: Path, capability: Capability, response: httpx2.Response, detail: str
) -> None:
    client = hf(capability, lambda request: response)
    answer = client.post("/v1/run", json=run_body(_inputs(capability, files_root)))
    assert_problem(answer, 502, retryable=False, detail=detail)
