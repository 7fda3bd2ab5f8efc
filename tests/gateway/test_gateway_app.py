"""The app shell: pipelines listing, OpenAPI ids, health, readiness, metrics, the UI mount, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_helpers import submit, wait_for_job
from pydantic import ValidationError

from gateway.settings import Settings

pytestmark = pytest.mark.anyio

OPERATIONS = {
    "listPipelines",
    "getPipeline",
    "uploadFile",
    "getFile",
    "deleteFile",
    "createJob",
    "listJobs",
    "getJob",
    "cancelJob",
    "deleteJob",
    "getMe",
    "listTenants",
    "createTenant",
    "setTenantLimits",
    "setTenantRetention",
    "listKeys",
    "createKey",
    "revokeKey",
    "streamJobEvents",
    "healthz",
    "readyz",
    # The OpenAI-compatible routes (docs/openai.md)
    "listModels",
    "getModel",
    "createChatCompletion",
    "createTranscription",
    "createSpeech",
    "createImage",
}


async def test_pipelines_carry_input_schema_and_upload_limits(make_gateway):
    gateway = await make_gateway(max_upload_bytes=10_000_000)
    items = (await gateway.get("/v1/pipelines")).json()["items"]
    by_name = {p["name"]: p for p in items}
    assert {"chain", "text_to_image", "speech_to_text"} <= set(by_name)
    audio = by_name["speech_to_text"]["inputs"]["audio"]
    assert audio["max_bytes"] == 10_000_000  # the gateway's limit is tighter than the pipeline's 50 MB
    assert "audio/wav" in audio["accept"]
    one = (await gateway.get("/v1/pipelines/speech_to_text")).json()
    assert one["inputs"] == by_name["speech_to_text"]["inputs"] and one["steps"][0]["worker"] == "stt"
    missing = await gateway.get("/v1/pipelines/nope")
    assert missing.status_code == 404 and "speech_to_text" in missing.json()["detail"]


async def test_openapi_has_stable_operation_ids(gateway):
    schema = (await gateway.get("/openapi.json")).json()
    ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert ids == OPERATIONS
    job = schema["components"]["schemas"]["JobPublic"]
    assert {"id", "status", "steps", "usage", "outputs"} <= set(job["properties"])
    assert (await gateway.get("/docs")).status_code == 200


async def test_health_ready_and_metrics(gateway):
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}
    ready = (await gateway.get("/readyz")).json()
    assert ready == {
        "status": "ready",
        "database": "ok",
        "runner": "alive",
        "files": "directory",
        "auth": "off",
        "disk": "ok",
    }
    await wait_for_job(gateway, (await submit(gateway, "chain", text="x"))["id"])
    text = (await gateway.get("/metrics")).text
    assert 'modaline_jobs{status="succeeded"} 1.0' in text
    assert 'modaline_step_duration_seconds_count{outcome="ok",worker="llm"} 3.0' in text


async def test_api_only_gateway_is_ready_without_a_runner(make_gateway):
    api = await make_gateway(role="api")
    assert (await api.get("/readyz")).json()["runner"] == "disabled"


async def test_serves_the_built_ui_with_spa_fallback(make_gateway, tmp_path: Path):
    ui = tmp_path / "dist"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<html>modaline</html>")
    (ui / "assets" / "app.js").write_text("console.log(1)")
    gateway = await make_gateway(ui_dir=ui)
    assert (await gateway.get("/")).text == "<html>modaline</html>"
    assert (await gateway.get("/jobs/123")).text == "<html>modaline</html>"  # client-side route
    assert (await gateway.get("/assets/app.js")).text == "console.log(1)"
    api_miss = await gateway.get("/v1/unknown")
    assert api_miss.status_code == 404 and api_miss.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert (await gateway.get("/v1/pipelines")).status_code == 200


def test_settings_read_the_conventional_names(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db:5432/modaline")
    monkeypatch.setenv("MODALINE_LLM_URL", "http://llm:8080/")
    monkeypatch.setenv("MODALINE_ROLE", "runner")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("MODALINE_MAX_UPLOAD_BYTES", "1048576")
    settings = Settings()
    assert settings.database_url.startswith("postgresql+psycopg://") and not settings.is_sqlite
    assert (
        settings.worker_url("llm") == "http://llm:8080"
        and settings.role == "runner"
        and settings.port == 9000
    )
    assert settings.runs_runner and not settings.runs_api and settings.max_upload_bytes == 1048576
    monkeypatch.setenv("MODALINE_DATABASE_URL", "sqlite+aiosqlite:///x.db")
    assert Settings().database_url == "sqlite+aiosqlite:///x.db"  # the prefixed name wins


@pytest.mark.parametrize(
    "bad",
    [
        {"database_url": "mysql://x/y"},
        {"llm_url": "llm:8101"},
        {"role": "both"},
        {"lease_seconds": 4, "heartbeat_seconds": 3},
        {"retry_base_seconds": 5, "retry_cap_seconds": 1},
        {"runner_concurrency": 0},
        {"database_url": "sqlite+aiosqlite:///:memory:"},
    ],
)
def test_settings_refuse_unsafe_values(bad):
    with pytest.raises(ValidationError):
        Settings(**bad)
