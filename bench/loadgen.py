"""Load generators: ``wrk`` when installed (C, one thread, keeps the client's CPU small), else aiohttp."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp


@dataclass
class LoadResult:
    rps: float
    requests: int
    errors: int
    seconds: float
    tool: str


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "aiohttp"


def _wrk(url: str, body: bytes, seconds: float, connections: int, headers: dict[str, str]) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n')
        for name, value in {"Content-Type": "application/json", **headers}.items():
            script.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return LoadResult(rps, total, errors, seconds, f"wrk -t1 -c{connections}")


async def _aiohttp_load(
    url: str, body: bytes, seconds: float, concurrency: int, extra: dict[str, str]
) -> LoadResult:
    stop = time.perf_counter() + seconds
    counts = {"ok": 0, "err": 0}
    headers = {"Content-Type": "application/json", **extra}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def one() -> None:
            while time.perf_counter() < stop:
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        counts["ok" if resp.status < 300 else "err"] += 1
                except aiohttp.ClientError:
                    counts["err"] += 1

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    total = counts["ok"] + counts["err"]
    return LoadResult(total / elapsed, total, counts["err"], elapsed, f"aiohttp c={concurrency}")


def post_load(
    url: str, body: bytes, seconds: float = 8.0, connections: int = 64, headers: dict[str, str] | None = None
) -> LoadResult:
    """Hammer ``url`` with the same JSON POST for ``seconds`` at ``connections`` concurrency."""
    if load_tool() == "wrk":
        return _wrk(url, body, seconds, connections, headers or {})
    return asyncio.run(_aiohttp_load(url, body, seconds, connections, headers or {}))


@dataclass
class SubmitResult:
    ids: list[str]
    errors: int
    first_error: str
    t_start: float  # time.time()
    t_end: float


async def submit_jobs_async(
    url: str, bodies: list[dict[str, Any]], concurrency: int = 64, budget_s: float = 300.0
) -> SubmitResult:
    """POST every body as fast as ``concurrency`` connections allow; collect the job ids."""
    ids: list[str] = []
    errors = 0
    first_error = ""
    queue = iter(bodies)
    deadline = time.perf_counter() + budget_s
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def one() -> None:
            nonlocal errors, first_error
            for body in queue:
                if time.perf_counter() > deadline:
                    return
                try:
                    async with session.post(url, json=body) as resp:
                        data = await resp.read()
                        if resp.status == 202 or resp.status == 201 or resp.status == 200:
                            ids.append(json.loads(data)["id"])
                        else:
                            errors += 1
                            first_error = first_error or f"HTTP {resp.status}: {data[:300]!r}"
                except (TimeoutError, aiohttp.ClientError) as exc:
                    errors += 1
                    first_error = first_error or repr(exc)

        t_start = time.time()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        t_end = time.time()
    return SubmitResult(ids, errors, first_error, t_start, t_end)


def submit_jobs(url: str, bodies: list[dict[str, Any]], concurrency: int = 64) -> SubmitResult:
    return asyncio.run(submit_jobs_async(url, bodies, concurrency))
