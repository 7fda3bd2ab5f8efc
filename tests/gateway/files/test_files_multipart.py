"""receive_multipart through a real Starlette app: fields, files, limits, malformed bodies, cleanup; on a
directory and on a bucket of a real S3 server alike (the ``storage`` fixture)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.files import FileRule, FileStorage, UploadError, receive_multipart

pytestmark = pytest.mark.anyio

RULES = {
    "image": FileRule(kind="image"),
    "audio": FileRule(kind="audio", max_bytes=50_000),
}


def make_app(storage: FileStorage, **options: Any) -> Starlette:
    async def upload(request: Request) -> JSONResponse:
        try:
            form = await receive_multipart(request, storage=storage, **{"max_bytes": 200_000, **options})
        except UploadError as exc:
            return JSONResponse(exc.problem(), status_code=exc.status, media_type="application/problem+json")
        files = {name: vars(stored) for name, stored in form.files.items()}
        return JSONResponse({"fields": form.fields, "files": files})

    return Starlette(routes=[Route("/upload", upload, methods=["POST"])])


@pytest.fixture
def client_for(storage: FileStorage) -> Callable[..., httpx.AsyncClient]:
    def build(**options: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=make_app(storage, **options))
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    return build


def encode(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str = "b0undary") -> bytes:
    """A multipart body from (name, filename, content type, data) parts, built by hand."""
    out = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


MULTIPART = {"content-type": "multipart/form-data; boundary=b0undary"}


async def test_text_fields_and_two_files(
    client_for: Callable[..., httpx.AsyncClient],
    stored_bytes: Callable[[str], bytes],
    sample: Callable[[str], bytes],
) -> None:
    png, wav = sample("png"), sample("wav")
    async with client_for(file_rules=RULES) as client:
        response = await client.post(
            "/upload",
            data={"pipeline": "speech_to_image", "note": "héllo wörld"},
            files={"image": ("cat photo.png", png, "image/png"), "audio": ("voice.wav", wav, "audio/x-wav")},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fields"] == {"pipeline": "speech_to_image", "note": "héllo wörld"}
    image, audio = body["files"]["image"], body["files"]["audio"]
    assert (image["content_type"], image["original_name"], image["bytes"]) == (
        "image/png",
        "cat photo.png",
        len(png),
    )
    assert (audio["content_type"], audio["kind"], audio["sha256"]) == (
        "audio/wav",
        "audio",
        hashlib.sha256(wav).hexdigest(),
    )
    assert stored_bytes(audio["path"]) == wav
    assert stored_bytes(image["path"]) == png


async def test_without_rules_any_supported_file_is_stored(
    client_for: Callable[..., httpx.AsyncClient], sample: Callable[[str], bytes]
) -> None:
    async with client_for() as client:
        response = await client.post("/upload", files={"whatever": ("x.ogg", sample("opus"))})
    assert response.status_code == 200
    assert response.json()["files"]["whatever"]["content_type"] == "audio/ogg"


async def test_an_unselected_file_input_is_absent_not_an_error(
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    body = encode(
        [("pipeline", None, None, b"text_to_image"), ("image", "", "application/octet-stream", b"")]
    )
    async with client_for(file_rules=RULES) as client:
        response = await client.post("/upload", content=body, headers=MULTIPART)
    assert response.status_code == 200
    assert response.json() == {"fields": {"pipeline": "text_to_image"}, "files": {}}


def _png_then(sample: Callable[[str], bytes], *after: tuple[str, str | None, str | None, bytes]) -> bytes:
    return encode([("image", "a.png", "image/png", sample("png")), *after])


ERROR_CASES = [
    pytest.param(
        lambda s: _png_then(s, ("audio", "b.png", "image/png", s("png"))),
        {},
        415,
        "Field 'audio' expects audio",
        id="second-file-wrong-kind",
    ),
    pytest.param(
        lambda s: _png_then(s, ("audio", "b.wav", "audio/wav", s("make_wav_big"))),
        {},
        413,
        "exceeds the limit of 50000 bytes",
        id="file-over-its-rule-limit",
    ),
    pytest.param(
        lambda s: _png_then(s, ("note", None, None, b"x" * 101)),
        {"max_field_bytes": 100},
        413,
        "text field in field 'note' exceeds the limit of 100 bytes",
        id="text-field-too-long",
    ),
    pytest.param(
        lambda s: _png_then(s, *[(f"f{i}", None, None, b"v") for i in range(3)]),
        {"max_fields": 3},
        413,
        "more than 3 parts",
        id="too-many-fields",
    ),
    pytest.param(
        lambda s: _png_then(s, ("image", "c.png", "image/png", s("png"))),
        {},
        422,
        "Field 'image' appears more than once",
        id="duplicate-file",
    ),
    pytest.param(
        lambda s: _png_then(s, ("other", "c.png", "image/png", s("png"))),
        {},
        422,
        "Field 'other' does not take a file",
        id="file-in-a-text-field",
    ),
    pytest.param(
        lambda s: _png_then(s, ("note", None, None, b"\xff\xfe bad")),
        {},
        422,
        "not valid UTF-8",
        id="text-not-utf8",
    ),
    pytest.param(
        lambda s: _png_then(s)[: -len(b"--b0undary--\r\n") - 10],
        {},
        400,
        "ended before its closing boundary",
        id="truncated-body",
    ),
    pytest.param(
        lambda s: _png_then(s).replace(b"--b0undary", b"--0ther"),
        {},
        400,
        "malformed",
        id="boundary-differs-from-header",
    ),
    pytest.param(
        lambda s: _png_then(s).replace(b'form-data; name="image"; ', b"attachment; "),
        {},
        400,
        "needs 'Content-Disposition: form-data' with a name",
        id="part-without-name",
    ),
]


@pytest.mark.parametrize(("build", "options", "status", "message"), ERROR_CASES)
async def test_errors_map_to_4xx_and_remove_files_of_the_request(
    client_for: Callable[..., httpx.AsyncClient],
    sample: Callable[[str], bytes],
    make_wav: Callable[..., bytes],
    leftovers: Callable[[], list[str]],
    build: Callable[[Callable[[str], bytes]], bytes],
    options: dict[str, Any],
    status: int,
    message: str,
) -> None:
    def samples(name: str) -> bytes:
        return make_wav(seconds=2.0) if name == "make_wav_big" else sample(name)

    async with client_for(file_rules=RULES, **options) as client:
        response = await client.post("/upload", content=build(samples), headers=MULTIPART)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert leftovers() == []


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("multipart/form-data", 400),
        ('multipart/form-data; boundary=""', 400),
        ("application/json", 415),
        (None, 415),
    ],
)
async def test_missing_boundary_or_wrong_content_type(
    client_for: Callable[..., httpx.AsyncClient], content_type: str | None, status: int
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    async with client_for() as client:
        response = await client.post("/upload", content=b'{"a": 1}', headers=headers)
    assert response.status_code == status
    assert response.json()["status"] == status


async def test_an_oversize_file_is_refused_while_the_body_still_streams(
    client_for: Callable[..., httpx.AsyncClient],
    sample: Callable[[str], bytes],
    leftovers: Callable[[], list[str]],
) -> None:
    sent = 0

    async def endless_body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield encode([("audio", "a.wav", "audio/wav", sample("wav"))])[: -len(b"\r\n--b0undary--\r\n")]
        while sent < 10_000:  # far more than the limit; the server must stop long before
            sent += 1
            yield b"\x00" * 4096

    async with client_for(file_rules=RULES) as client:
        response = await client.post("/upload", content=endless_body(), headers=MULTIPART)
    assert response.status_code == 413
    assert sent < 20  # 50 kB limit / 4 kB chunks, plus the parser's look-behind
    assert leftovers() == []
