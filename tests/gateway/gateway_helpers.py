"""Helpers the gateway tests share: submit a job, wait for it to finish."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from gateway.settings import Settings

#: Test pipelines (chain, fanout, optional, quick, jobtimeout) loaded on top of the built-in ones.
PIPELINES_FIXTURE = Path(__file__).with_name("pipelines_fixture")


async def wait_for_job(
    client: httpx.AsyncClient,
    job_id: str,
    *,
    statuses: tuple[str, ...] = ("succeeded", "failed", "canceled"),
    within: float = 15.0,
) -> dict[str, Any]:
    """Poll the API until the job reaches one of ``statuses``; fail the test after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        job: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}")).json()
        if job["status"] in statuses:
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {within} s: {job}")
        await asyncio.sleep(0.02)


async def submit(client: httpx.AsyncClient, pipeline: str, **inputs: Any) -> dict[str, Any]:
    response = await client.post("/v1/jobs", json={"pipeline": pipeline, "inputs": inputs})
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


async def append_events(
    engine: Any, job_id: str, n: int, *, tenant: str = "default", type_: str = "test.burst", detail: str = ""
) -> None:
    """Append ``n`` events to a job in one transaction, as the gateway's writers do (with the announcement
    other processes' hubs listen for)."""
    from sqlalchemy import insert

    from gateway.store.db import write_tx
    from gateway.store.events import announce
    from gateway.store.models import EVENTS, utcnow
    from gateway.store.rows import event_row

    now = utcnow()
    rows = [
        {**event_row(type_, now, status=None, detail=detail or str(i)), "job_id": job_id, "tenant_id": tenant}
        for i in range(n)
    ]
    async with write_tx(engine) as conn:
        await conn.execute(insert(EVENTS), rows)
        await announce(conn)


async def log_seqs(engine: Any, job_id: str) -> list[int]:
    """Every event seq of a job in the log, in order."""
    from sqlalchemy import select

    from gateway.store.models import EVENTS

    query = select(EVENTS.c.seq).where(EVENTS.c.job_id == job_id).order_by(EVENTS.c.seq)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).scalars())


async def until(condition: Any, within: float = 15.0) -> None:
    """Wait until ``condition()`` is true; fail after ``within`` seconds."""
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still not true after {within} s")


def free_port() -> int:
    """A port the OS says is free right now (bound to port 0, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """``python -m gateway serve`` as a real child process, for crash and multi-runner tests."""

    def __init__(self, env: dict[str, str], log_path: Any) -> None:
        import os

        self.port = free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port), "MODALINE_HOST": "127.0.0.1"}
        self.log_path = log_path
        self.proc: Any = None
        self.url = f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        """Start the child process (not waiting for it)."""
        import subprocess
        import sys

        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    async def start(self, within: float = 120.0) -> None:
        """Spawn, then wait until /readyz answers 200."""
        self.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        async with httpx.AsyncClient(base_url=self.url) as client:
            while loop.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"gateway exited with {self.proc.returncode}: {self.log_tail()}")
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"gateway not ready in {within} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no lease release: a crash."""
        import signal

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except Exception:
                self.kill()

    def log_tail(self) -> str:
        from pathlib import Path

        return Path(self.log_path).read_text(errors="replace")[-3000:]


def fast_settings(database_url: str, files_root: Path, worker_url: str, **overrides: Any) -> Settings:
    """Settings for tests: every worker at the fake, short poll/lease/retry timings."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "files_root": files_root,
        "pipelines_dir": PIPELINES_FIXTURE,
        "ui_dir": files_root / "no-ui",
        "runner_poll_seconds": 0.02,
        "heartbeat_seconds": 0.2,
        "lease_seconds": 2.0,
        "cancel_poll_seconds": 0.05,
        "retry_base_seconds": 0.01,
        "retry_cap_seconds": 2.0,
        "sse_poll_seconds": 0.05,
        "step_timeout_seconds": 10.0,
        **{f"{cap}_url": worker_url for cap in ("llm", "image", "stt", "tts", "cyclegan")},
    }
    values.update(overrides)
    return Settings(**values)
