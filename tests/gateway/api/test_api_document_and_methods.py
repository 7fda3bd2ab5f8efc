"""What the conformance run found, pinned down one by one: 405s with a true ``Allow`` (with and without the
UI mounted), downloads documented with their real media types, every error documented as problem+json,
the Last-Event-ID the document allows, admin bodies read with JSON's types. Routing, models and the
document only: no lifespan, no database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from gateway.api.admin import KeyCreate, Limits
from gateway.api.events import _last_seen
from gateway.api.problems import speaks_openai
from gateway.app import create_app
from gateway.errors import BadRequestError
from gateway.files import SUPPORTED
from gateway.settings import Settings
from workers.kit.contract import PROBLEM_CONTENT_TYPE

pytestmark = pytest.mark.anyio

INDEX = "<!doctype html><title>Modaline</title>"


def _settings(tmp_path: Path, *, ui: bool) -> Settings:
    dist = tmp_path / "dist"
    if ui:
        (dist / "assets").mkdir(parents=True)
        (dist / "index.html").write_text(INDEX)
        (dist / "assets" / "app.js").write_text("console.log(1)")
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", ui_dir=dist)


@pytest.fixture(params=[True, False], ids=["ui", "no-ui"])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(tmp_path, ui=request.param))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_CONTENT_TYPE)
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/files", "POST"),  # the UI's catch-all route used to answer this one with a 404
        ("OPTIONS", "/v1/jobs", "GET, POST"),  # Starlette named only the first route's method: POST
        ("DELETE", "/v1/jobs", "GET, POST"),
        ("PUT", "/v1/jobs/abc", "DELETE, GET"),
        ("GET", "/v1/jobs/abc/cancel", "POST"),
        ("POST", "/v1/files/abc", "DELETE, GET"),
        ("POST", "/healthz", "GET"),
        ("POST", "/openapi.json", "GET, HEAD"),
    ],
)
async def test_a_wrong_method_is_a_405_listing_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    _problem(response, 405)
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_an_unknown_api_path_is_a_problem_404_whatever_the_method(
    client: httpx.AsyncClient, method: str
) -> None:
    _problem(await client.request(method, "/v1/nothing-here"), 404)


async def test_the_ui_serves_only_what_no_route_claims(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, ui=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        for path in ("/", "/jobs/123", "/pipelines/text_to_text"):
            page = await http.get(path)
            assert page.status_code == 200 and page.text == INDEX, path
            assert page.headers["cache-control"] == "no-cache"
        assert (await http.get("/assets/app.js")).text == "console.log(1)"
        assert (await http.get("/../../etc/passwd")).text == INDEX  # never a file outside the build
        assert "no route /v1/nope" in str(_problem(await http.get("/v1/nope"), 404)["detail"])
        wrong = await http.post("/jobs/123")
        _problem(wrong, 405)
        assert wrong.headers["allow"] == "GET"
        assert (await http.get("/openapi.json")).json()["info"]["title"] == "Modaline gateway"


def _document(tmp_path: Path) -> dict[str, object]:
    return create_app(_settings(tmp_path, ui=False)).openapi()


def test_downloads_are_documented_with_the_media_types_files_are_served_with(tmp_path: Path) -> None:
    get_file = _document(tmp_path)["paths"]["/v1/files/{file_id}"]["get"]  # type: ignore[index]
    served = {fmt.content_type for fmt in SUPPORTED}
    for status in ("200", "206"):
        assert set(get_file["responses"][status]["content"]) == served
    upload = _document(tmp_path)["paths"]["/v1/files"]["post"]["requestBody"]["content"]  # type: ignore[index]
    declared = upload["multipart/form-data"]["encoding"]["file"]["contentType"]
    assert {item.strip() for item in declared.split(",")} == served


def test_every_error_answer_is_documented_as_problem_json(tmp_path: Path) -> None:
    """problem+json everywhere, except under the OpenAI-compatible paths: OpenAI's envelope there."""
    document = _document(tmp_path)
    assert "HTTPValidationError" not in document["components"]["schemas"]  # type: ignore[index]
    openai_paths = 0
    for path, operations in document["paths"].items():  # type: ignore[attr-defined]
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                if speaks_openai(path):
                    assert list(response["content"]) == ["application/json"], (method, path, status)
                    assert response["content"]["application/json"]["schema"]["required"] == ["error"]
                    openai_paths += 1
                else:
                    assert list(response["content"]) == [PROBLEM_CONTENT_TYPE], (method, path, status)
    assert openai_paths >= 6 * 3


@pytest.mark.parametrize(
    ("header", "after"), [("", 0), ("0", 0), ("42", 42), (" 7\t", 7), ("9" * 18, 10**18 - 1)]
)
def test_last_event_id_is_an_event_seq(header: str, after: int) -> None:
    assert _last_seen(header) == after


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("-1", "must not be negative"),
        ("null", "integer id"),
        ("+5", "integer id"),
        ("1_000", "integer id"),
        ("9" * 19, "integer id"),  # past a 64-bit integer: a 400, not an overflow in the database
    ],
)
def test_any_other_last_event_id_is_a_400(header: str, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        _last_seen(header)


@pytest.mark.parametrize("value", [False, True, "3", 1.5])
def test_an_admin_integer_is_a_json_integer_not_a_boolean_or_a_string(value: object) -> None:
    with pytest.raises(ValidationError):
        Limits.model_validate({"running_jobs": value})
    with pytest.raises(ValidationError):
        KeyCreate.model_validate({"scopes": ["jobs:read"], "expires_in_days": value})


def test_an_admin_integer_may_be_written_with_a_zero_fraction_and_a_flag_must_be_a_boolean() -> None:
    assert Limits.model_validate({"running_jobs": 3.0, "jobs_per_day": None}).running_jobs == 3
    with pytest.raises(ValidationError):
        KeyCreate.model_validate({"scopes": ["jobs:read"], "operator": 0})
