"""stored_file_response: whole files, single ranges of every shape, unsatisfiable ranges, streamed in chunks;
from a directory and from a bucket of a real S3 server alike (the ``storage`` fixture)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.files import FileStorage, ObjectNotFound, stored_file_response
from gateway.files.download import CHUNK_BYTES

pytestmark = pytest.mark.anyio

SIZE = 2 * CHUNK_BYTES + 1234  # several read chunks, and not a multiple of one
DATA = os.urandom(SIZE)


@pytest.fixture
async def client(storage: FileStorage) -> AsyncIterator[httpx.AsyncClient]:
    storage.put_bytes("blob", DATA, content_type="audio/wav")
    storage.put_bytes("empty", b"", content_type="audio/wav")

    async def download(request: Request) -> Response:
        return await stored_file_response(
            storage,
            request.path_params["name"],
            content_type="audio/wav",
            range_header=request.headers.get("range"),
            etag=request.query_params.get("etag"),
            download_name=request.query_params.get("name"),
        )

    app = Starlette(routes=[Route("/f/{name}", download)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        pytest.param("bytes=0-99", 0, 99, id="first"),
        pytest.param(
            f"bytes={CHUNK_BYTES - 10}-{CHUNK_BYTES + 10}",
            CHUNK_BYTES - 10,
            CHUNK_BYTES + 10,
            id="middle-across-chunks",
        ),
        pytest.param("bytes=-500", SIZE - 500, SIZE - 1, id="suffix"),
        pytest.param("bytes=1000-", 1000, SIZE - 1, id="open"),
        pytest.param(f"bytes=-{SIZE * 2}", 0, SIZE - 1, id="suffix-longer-than-file"),
        pytest.param(f"bytes=10-{SIZE * 2}", 10, SIZE - 1, id="end-past-eof-clamped"),
        pytest.param(f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1, id="last-byte"),
        pytest.param(" Bytes = 5 - 9 ", 5, 9, id="tolerant-spacing"),
    ],
)
async def test_single_range_is_206(
    client: httpx.AsyncClient, range_header: str, start: int, end: int
) -> None:
    response = await client.get("/f/blob", headers={"range": range_header})
    assert response.status_code == 206
    assert response.content == DATA[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["content-type"] == "audio/wav"


@pytest.mark.parametrize(
    "range_header",
    [
        pytest.param(None, id="no-range"),
        pytest.param("bytes=0-1,5-6", id="multiple-ranges-get-the-whole-file"),
        pytest.param("items=0-5", id="other-unit"),
        pytest.param("bytes=9-3", id="reversed-is-invalid"),
        pytest.param("bytes=abc", id="garbage"),
        pytest.param("bytes=-", id="no-numbers"),
    ],
)
async def test_whole_file_is_200(client: httpx.AsyncClient, range_header: str | None) -> None:
    headers = {"range": range_header} if range_header else {}
    response = await client.get("/f/blob?etag=abc123&name=Voix%20%C3%A9t%C3%A9.wav", headers=headers)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == '"abc123"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Voix _t_.wav\"; filename*=UTF-8''Voix%20%C3%A9t%C3%A9.wav"
    )
    assert "content-range" not in response.headers


@pytest.mark.parametrize(
    ("name", "range_header", "size"),
    [
        pytest.param("blob", f"bytes={SIZE}-", SIZE, id="start-at-eof"),
        pytest.param("blob", f"bytes={SIZE + 100}-{SIZE + 200}", SIZE, id="past-eof"),
        pytest.param("blob", "bytes=-0", SIZE, id="empty-suffix"),
        pytest.param("empty", "bytes=0-10", 0, id="empty-file"),
        pytest.param("empty", "bytes=-5", 0, id="suffix-of-empty-file"),
    ],
)
async def test_unsatisfiable_range_is_416(
    client: httpx.AsyncClient, name: str, range_header: str, size: int
) -> None:
    response = await client.get(f"/f/{name}", headers={"range": range_header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 416


async def test_weak_etags_pass_through_unchanged(client: httpx.AsyncClient) -> None:
    response = await client.get('/f/blob?etag=W/"v1"')
    assert response.headers["etag"] == 'W/"v1"'


async def test_a_missing_file_raises_file_not_found(storage: FileStorage) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        await stored_file_response(storage, "uploads/nope", content_type="image/png", range_header=None)
    assert isinstance(caught.value, ObjectNotFound)


async def test_a_big_file_is_streamed_in_chunks_never_whole(storage: FileStorage) -> None:
    """Twenty read chunks: the body arrives as many ASGI messages, none near the whole file (a directory
    gives exact chunks; obstore hands on network reads of at least one chunk, ~0.3-0.7 MiB here)."""
    data = os.urandom(20 * CHUNK_BYTES)
    storage.put_bytes("uploads/big", data, content_type="audio/wav")
    response = await stored_file_response(
        storage, "uploads/big", content_type="audio/wav", range_header=f"bytes=100-{len(data) - 101}"
    )
    pieces = [piece async for piece in response.body_iterator]  # type: ignore[attr-defined]
    assert b"".join(pieces) == data[100:-100]
    assert len(pieces) >= 5 and max(map(len, pieces)) <= len(data) // 4
