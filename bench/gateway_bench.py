"""Profile the gateway in one process: ``python -m bench.gateway_bench [--db sqlite|postgres] [-n 1000]``.

Starts ``bench.fake_worker`` (instant answers) on a free port, then (1) submits N jobs through the ASGI app
and (2) lets the runner drain them, each under cProfile, printing rates and the top functions. This is a
tuning tool for the gateway's own code; the comparable, out-of-process numbers come from ``python -m bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

PIPELINE = """\
name: bench_llm3
inputs:
  text: {type: text, max_length: 1000}
steps:
  - {id: a, worker: llm, inputs: {text: "{{ inputs.text }}"}}
  - {id: b, worker: llm, inputs: {text: "{{ steps.a.text }}"}}
  - {id: c, worker: llm, inputs: {text: "{{ steps.b.text }}"}}
outputs:
  text: "{{ steps.c.text }}"
"""


def _top(profile: cProfile.Profile, lines: int = 25) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


async def _run(db_url: str, worker_url: str, root: Path, n: int, concurrency: int) -> None:
    from asgi_lifespan import LifespanManager

    from gateway.app import create_app
    from gateway.settings import Settings

    (root / "pipelines").mkdir()
    (root / "pipelines" / "bench.yaml").write_text(PIPELINE)
    urls = {f"{cap}_url": worker_url for cap in ("llm", "image", "stt", "tts", "cyclegan")}
    settings = Settings(
        database_url=db_url,
        files_root=root / "files",
        pipelines_dir=root / "pipelines",
        ui_dir=root / "x",
        **urls,
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        runner = app.state.runner
        await runner.stop()  # measure submit alone first
        if os.environ.get("GWB_WAIT"):
            await asyncio.sleep(float(os.environ["GWB_WAIT"]))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://gw")
        body = {"pipeline": "bench_llm3", "inputs": {"text": "hello"}}
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                assert (await client.post("/v1/jobs", json=body)).status_code == 202

        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        await asyncio.gather(*(one() for _ in range(n)))
        profile.disable()
        took = time.perf_counter() - start
        print(f"submit: {n} jobs in {took:.2f} s = {n / took:.0f}/s (concurrency {concurrency})")
        print(_top(profile))
        from gateway.runner import Runner

        fresh = Runner(
            engine=app.state.engine,
            registry=app.state.registry,
            client=runner.ctx.client,
            settings=settings,
            metrics=runner.ctx.metrics,
        )
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        await fresh.start()
        while True:
            jobs = (await client.get("/v1/jobs", params={"status": "succeeded", "limit": 1})).json()
            queued = (await client.get("/v1/jobs", params={"status": "queued", "limit": 1})).json()["items"]
            if not queued and not fresh.active:
                break
            await asyncio.sleep(0.05)
        profile.disable()
        took = time.perf_counter() - start
        print(
            f"drain: {n} jobs in {took:.2f} s = {n / took:.0f}/s; writer {fresh.writer.transactions} tx "
            f"for {fresh.writer.items} writes; last {jobs['items'][0]['status'] if jobs['items'] else '-'}"
        )
        print(_top(profile))
        await fresh.stop()
        await client.aclose()
        app.state.runner = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()
    worker = subprocess.Popen([sys.executable, "-m", "bench.fake_worker", "--port", str(args.port)])
    pg_name = f"modaline_gw_bench_{int(time.time())}"
    try:
        time.sleep(1.5)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            if args.db == "postgres":
                with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{pg_name}"')
                db_url = f"postgresql+psycopg://postgres@127.0.0.1/{pg_name}"
            else:
                db_url = f"sqlite+aiosqlite:///{root / 'bench.db'}"
            asyncio.run(_run(db_url, f"http://127.0.0.1:{args.port}", root, args.n, args.concurrency))
    finally:
        worker.terminate()
        worker.wait(10)
        if args.db == "postgres":
            with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
