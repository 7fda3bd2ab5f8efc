"""The OpenAPI document tells the truth: schemathesis runs every check against a live gateway.

A real ``python -m gateway serve`` (SQLite in a temp dir, the built UI stood in for by a tiny one, so the
UI's fallback is in the way as it is in production; workers unreachable, as jobs need not run; API keys
on, as in production, with an operator key for schemathesis and no rate limits) is fuzzed from its own
``/openapi.json`` with ``--checks all``: no 5xx, every status, content type, header and body as
documented, schema-valid requests accepted and schema-invalid ones rejected, requests without a valid
key refused, undeclared methods 405 with a true ``Allow``. All four phases run, stateful included, with a fixed seed and a bounded number of
examples so the run is deterministic and takes well under two minutes on two cores.
``schemathesis.toml`` names the few rejections that the document can state only in words, and
``schemathesis_hooks.py`` gives the upload formats real files.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SEED = 20261201
MAX_EXAMPLES = 100

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unused_url() -> str:
    """A loopback URL nothing listens on: every worker call fails fast, as with workers down."""
    return f"http://127.0.0.1:{_free_port()}"


#: The operator key the gateway stores on start and schemathesis sends (``mdl_`` + 43 URL-safe characters).
OPERATOR_KEY = "mdl_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway process on a free loopback port, with a stand-in UI and keys on; its base URL."""
    base = tmp_path_factory.mktemp("conformance")
    ui = base / "ui"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<!doctype html><title>Modaline</title>")
    (ui / "assets" / "app.js").write_text("console.log('modaline')")
    port = _free_port()
    nowhere = _unused_url()
    env = {
        **os.environ,
        "MODALINE_DATABASE_URL": f"sqlite+aiosqlite:///{base / 'gateway.db'}",
        "MODALINE_FILES_ROOT": str(base / "files"),
        "MODALINE_UI_DIR": str(ui),
        "MODALINE_HOST": "127.0.0.1",
        "PORT": str(port),
        "MODALINE_RETRY_BASE_SECONDS": "0.01",
        "MODALINE_AUTH": "keys",
        "MODALINE_SIGNING_KEY": secrets.token_urlsafe(32),
        "MODALINE_BOOTSTRAP_ADMIN_KEY": OPERATOR_KEY,
        # Thousands of requests in half a minute: the limits have their own tests; here they would only
        # turn the run into 429s.
        **dict.fromkeys(
            (
                f"MODALINE_LIMIT_{name}"
                for name in ("REQUESTS_PER_MINUTE", "SUBMITS_PER_MINUTE", "JOBS_PER_DAY")
            ),
            "0",
        ),
        **{f"MODALINE_{cap}_URL": nowhere for cap in ("LLM", "IMAGE", "STT", "TTS", "CYCLEGAN")},
    }
    log_path = base / "gateway.log"
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the gateway exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the gateway was not ready in 60 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_the_live_gateway_conforms_to_its_openapi_document(live_gateway: str, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{live_gateway}/openapi.json",
        "--header",
        f"Authorization: Bearer {OPERATOR_KEY}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py")}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"schemathesis found a failure (exit {result.returncode}):\n{output}"
    assert "Stateful" in output and " passed" in output, output  # the phases really ran
